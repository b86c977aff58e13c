// Feature probes: one do-nothing program per hook kind. User space
// (sensor/loader/features.cc) loads each alone, with the attach target it
// chooses, and attaches and detaches it, to learn from the kernel itself
// whether that kind of hook can run here. The LSM program also counts the
// calls of one process, so that an LSM program that attaches but never runs
// (the BPF LSM loaded but not active) is told apart from a working one.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

// Set by user space after load: the process whose LSM hook calls count.
__u32 tgd_probe_tgid = 0;
// Incremented by the LSM probe for each file_open of tgd_probe_tgid.
__u64 tgd_probe_lsm_hits = 0;

SEC("tracepoint/sched/sched_process_exit")
int tgd_probe_tracepoint(void *ctx) { return 0; }

SEC("raw_tp/sched_process_exit")
int tgd_probe_raw_tp(void *ctx) { return 0; }

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tgd_probe_tp_btf, struct task_struct *task) { return 0; }

SEC("kprobe")
int tgd_probe_kprobe(void *ctx) { return 0; }

SEC("kretprobe")
int tgd_probe_kretprobe(void *ctx) { return 0; }

SEC("uprobe")
int tgd_probe_uprobe(void *ctx) { return 0; }

SEC("uretprobe")
int tgd_probe_uretprobe(void *ctx) { return 0; }

SEC("lsm/file_open")
int BPF_PROG(tgd_probe_lsm, struct file *file) {
  if ((bpf_get_current_pid_tgid() >> 32) == tgd_probe_tgid) __sync_fetch_and_add(&tgd_probe_lsm_hits, 1);
  return 0;
}

SEC("fentry/security_task_prctl")
int BPF_PROG(tgd_probe_fentry) { return 0; }

SEC("fexit/security_task_prctl")
int BPF_PROG(tgd_probe_fexit) { return 0; }

// What Set on usdts needs, probed on their own (loaded, not attached): a
// uprobe program that writes the probed process's memory (a memory operand)
// and one that stores to its registers (a register operand). Kernels under
// lockdown (integrity) refuse the first; kernels before uprobe context writes
// refuse the second.

SEC("uprobe")
int tgd_probe_uprobe_write_user(struct pt_regs *ctx) {
  __u32 v = 1;
  bpf_probe_write_user((void *)PT_REGS_PARM1(ctx), &v, sizeof(v));
  return 0;
}

SEC("uprobe")
int tgd_probe_uprobe_write_regs(struct pt_regs *ctx) {
  PT_REGS_RC(ctx) = 0;
  return 0;
}
