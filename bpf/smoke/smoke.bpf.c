// Smoke program: proves the BPF toolchain (clang -> skeleton) and counts
// sys_enter events of one target tgid. Used by the toolchain root test.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tgid = 0;
__u64 hits = 0;

SEC("raw_tp/sys_enter")
int smoke_sys_enter(void *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) == target_tgid)
    __sync_fetch_and_add(&hits, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
