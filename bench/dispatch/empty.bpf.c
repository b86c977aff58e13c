// The empty-program baseline: a program that does nothing, attached to the
// same tracepoint as the dispatcher, so the bench can say what any BPF
// program on that hook costs before the dispatcher does any work.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_getpid")
int tgd_bench_empty(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
