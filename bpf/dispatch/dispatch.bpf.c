// The dispatcher datapath (design.md section 3).
//
// Per hook, user space loads this object once more with `tgd_hook_id` set in
// .rodata and every map reused from the shared instance, and attaches one
// dispatcher program. The dispatcher finds the run lists of the hook for the
// current (tracked) cgroup and for "every cgroup" (unfiltered policies).
// When only the cgroup's list applies and its gates rule out every policy
// on it (one lookup per gate kind, dispatch_abi.h "Gates"), the event is
// decided there. Otherwise it tail-calls the hook's policy program (the
// evaluator of the hook's kind), which evaluates every listed policy its
// gate does not rule out, from the shared maps in one bpf_loop, and runs the
// first matching selector's actions. Policies of a known hook therefore cost
// no verifier run and no per-CPU memory: only their config, run-list, gate
// and value entries.
//
// Replacement safety: configs and run lists live in array slots that are
// written only while free; an update writes a free slot and switches one
// u64 reference to it (no map-in-map write, no grace period on the update
// path), the reader checks that the slot carries the reference it followed,
// and user space frees a replaced slot only after an RCU grace period
// (dispatch_abi.h "Slots", sensor/loader/slot_pool.h).
// Value sets are keyed by (policy, generation-tagged clause, value) and only
// ever read for presence. Scratch memory is the event's own ring buffer
// reservation, so a preempted program never shares it with another task.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/dispatch/eval.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ---------------------------------------------------------------- exec tracker */

static __always_inline void exec_track_store(__u32 tgid, struct file *file) {
  __u32 zero = 0;
  struct tgd_exec_path *tmp = bpf_map_lookup_elem(&tgd_exec_scratch, &zero);
  if (!tmp) return;
  __builtin_memset(tmp, 0, sizeof(*tmp));
  int trunc = 0;
  struct path fpath = BPF_CORE_READ(file, f_path);
  int n = tgd_read_path(&fpath, tmp->path, sizeof(tmp->path), &trunc);
  /* A path that does not fit can match nothing: store it as too long. */
  tmp->len = trunc ? TGD_STR_MAX : (__u32)n;
  tmp->hash = tgd_path_hash((const __u64 *)tmp->path);
  bpf_map_update_elem(&tgd_exec_paths, &tgid, tmp, BPF_ANY);
}

SEC("raw_tp/sched_process_exec")
int tgd_exec_track(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *task = (struct task_struct *)ctx->args[0];
  struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
  __u32 tgid = BPF_CORE_READ(task, tgid);
  __u32 flags = tgd_track_flags_get();
  if (flags) tgd_track_exec_before(flags, tgid, bpf_map_lookup_elem(&tgd_exec_paths, &tgid));
  exec_track_store(tgid, BPF_CORE_READ(bprm, file));
  if (flags) tgd_track_exec_after(flags, task, tgid);
  return 0;
}

SEC("raw_tp/sched_process_fork")
int tgd_fork_track(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *parent = (struct task_struct *)ctx->args[0];
  struct task_struct *child = (struct task_struct *)ctx->args[1];
  __u32 tgid = BPF_CORE_READ(child, tgid);
  if (BPF_CORE_READ(child, pid) != tgid) return 0; /* a thread shares the entry */
  __u32 ptgid = BPF_CORE_READ(parent, tgid);
  struct tgd_exec_path *p = bpf_map_lookup_elem(&tgd_exec_paths, &ptgid);
  /* sched_process_fork fires after the child was woken up: on another CPU it
   * may already have exec'd. Never overwrite what its exec stored. */
  if (p) bpf_map_update_elem(&tgd_exec_paths, &tgid, p, BPF_NOEXIST);
  __u32 flags = tgd_track_flags_get();
  if (flags) tgd_track_fork(flags, ptgid, tgid);
  return 0;
}

SEC("raw_tp/sched_process_exit")
int tgd_exit_track(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *task = (struct task_struct *)ctx->args[0];
  ret_forget_task(BPF_CORE_READ(task, pid)); /* each exiting thread */
  struct signal_struct *sig = BPF_CORE_READ(task, signal);
  if (BPF_CORE_READ(sig, live.counter) != 0) return 0;
  __u32 tgid = BPF_CORE_READ(task, tgid);
  bpf_map_delete_elem(&tgd_exec_paths, &tgid);
  tgd_track_exit(tgd_track_flags_get(), tgid);
  return 0;
}

/* ---------------------------------------------------------------- programs */

SEC("tracepoint")
int tgd_disp_tp(void *ctx) { return dispatch(ctx, &tgd_tail_tp); }

SEC("tracepoint")
int tgd_eval_tp(void *ctx) { return evaluate_tp(ctx); }

SEC("raw_tp")
int tgd_disp_rawtp(struct bpf_raw_tracepoint_args *ctx) { return dispatch(ctx, &tgd_tail_rawtp); }

SEC("raw_tp")
int tgd_eval_rawtp(struct bpf_raw_tracepoint_args *ctx) { return evaluate_rawtp(ctx); }

SEC("kprobe")
int tgd_disp_kprobe(struct pt_regs *ctx) { return dispatch(ctx, &tgd_tail_kprobe); }

SEC("kprobe")
int tgd_eval_kprobe(struct pt_regs *ctx) { return evaluate_kprobe(ctx); }

SEC("lsm")
int tgd_disp_lsm(unsigned long long *ctx) { return dispatch(ctx, &tgd_tail_lsm); }

SEC("lsm")
int tgd_eval_lsm(unsigned long long *ctx) { return evaluate_lsm(ctx); }
