// Base process sensor: one ring-buffer record per exec, process exit and
// process clone (raw tracepoints sched_process_exec/exit/fork). User space
// (sensor/process) turns them into Tetragon process_exec / process_exit
// events and keeps the process cache.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/process/path.bpf.h"
#include "bpf/process/process_msg.h"

char LICENSE[] SEC("license") = "GPL";

/* Records to user space (struct tgd_proc_msg). */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 21);
} tgd_proc_events SEC(".maps");

/* Records lost because the ring buffer was full, per CPU (index 0). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} tgd_proc_lost SEC(".maps");

static __always_inline struct tgd_proc_msg *reserve(void) {
  struct tgd_proc_msg *m = bpf_ringbuf_reserve(&tgd_proc_events, sizeof(*m), 0);
  if (!m) {
    __u32 zero = 0;
    __u64 *lost = bpf_map_lookup_elem(&tgd_proc_lost, &zero);
    if (lost) (*lost)++;
  }
  return m;
}

/* The task's pid in its innermost pid namespace (pid->numbers[pid->level].nr). */
static __always_inline __u32 task_nspid(struct task_struct *task) {
  struct pid *pid = BPF_CORE_READ(task, thread_pid);
  if (!pid) return 0;
  unsigned int level = BPF_CORE_READ(pid, level);
  struct upid up = {};
  bpf_probe_read_kernel(&up, sizeof(up),
                        (void *)pid + bpf_core_field_offset(struct pid, numbers) +
                            (__u64)(level & 0x3f) * bpf_core_type_size(struct upid));
  return up.nr;
}

static __always_inline void fill_task(struct tgd_proc_msg *m, struct task_struct *task) {
  m->pid = BPF_CORE_READ(task, tgid);
  m->nspid = task_nspid(task);
  m->tid = BPF_CORE_READ(task, pid);
  m->ppid = BPF_CORE_READ(task, real_parent, tgid);
  m->ktime = bpf_ktime_get_ns();
  m->cgroup_id = bpf_get_current_cgroup_id();
  const struct cred *cred = BPF_CORE_READ(task, cred);
  m->uid = BPF_CORE_READ(cred, uid.val);
  m->gid = BPF_CORE_READ(cred, gid.val);
  m->euid = BPF_CORE_READ(cred, euid.val);
  m->egid = BPF_CORE_READ(cred, egid.val);
  m->auid = BPF_CORE_READ(task, loginuid.val);
  m->cap_permitted = BPF_CORE_READ(cred, cap_permitted.val);
  m->cap_effective = BPF_CORE_READ(cred, cap_effective.val);
  m->cap_inheritable = BPF_CORE_READ(cred, cap_inheritable.val);
  struct nsproxy *ns = BPF_CORE_READ(task, nsproxy);
  if (ns) {
    m->ns[TGD_NS_UTS] = BPF_CORE_READ(ns, uts_ns, ns.inum);
    m->ns[TGD_NS_IPC] = BPF_CORE_READ(ns, ipc_ns, ns.inum);
    m->ns[TGD_NS_MNT] = BPF_CORE_READ(ns, mnt_ns, ns.inum);
    m->ns[TGD_NS_PID_FOR_CHILDREN] = BPF_CORE_READ(ns, pid_ns_for_children, ns.inum);
    m->ns[TGD_NS_NET] = BPF_CORE_READ(ns, net_ns, ns.inum);
    m->ns[TGD_NS_TIME] = BPF_CORE_READ(ns, time_ns, ns.inum);
    m->ns[TGD_NS_TIME_FOR_CHILDREN] = BPF_CORE_READ(ns, time_ns_for_children, ns.inum);
    m->ns[TGD_NS_CGROUP] = BPF_CORE_READ(ns, cgroup_ns, ns.inum);
  }
  unsigned int level = BPF_CORE_READ(task, thread_pid, level);
  m->ns[TGD_NS_PID] = BPF_CORE_READ(task, thread_pid, numbers[level & 31].ns, ns.inum);
  m->ns[TGD_NS_USER] = BPF_CORE_READ(cred, user_ns, ns.inum);
}

SEC("raw_tp/sched_process_exec")
int tgd_proc_exec(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *task = (struct task_struct *)ctx->args[0];
  struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
  struct tgd_proc_msg *m = reserve();
  if (!m) return 0;
  __builtin_memset(m, 0, 136); /* header; strings are length-delimited */
  m->op = TGD_PROC_MSG_EXEC;
  fill_task(m, task);

  int trunc = 0;
  struct file *file = BPF_CORE_READ(bprm, file);
  struct path fpath = BPF_CORE_READ(file, f_path);
  m->filename_len = tgd_read_path(&fpath, m->filename, sizeof(m->filename), &trunc);
  if (trunc) m->flags |= TGD_PROC_TRUNC_FILENAME;

  struct mm_struct *mm = BPF_CORE_READ(task, mm);
  unsigned long start = BPF_CORE_READ(mm, arg_start);
  unsigned long end = BPF_CORE_READ(mm, arg_end);
  unsigned long len = end > start ? end - start : 0;
  if (len > TGD_PROC_ARGS_MAX) {
    len = TGD_PROC_ARGS_MAX;
    m->flags |= TGD_PROC_TRUNC_ARGS;
  }
  if (len > 0 && bpf_probe_read_user(m->args, len, (void *)start) != 0) {
    m->flags |= TGD_PROC_ERR_ARGS;
    len = 0;
  }
  m->args_len = len;

  struct path pwd = BPF_CORE_READ(task, fs, pwd);
  m->cwd_len = tgd_read_path(&pwd, m->cwd, sizeof(m->cwd), &trunc);
  if (trunc) m->flags |= TGD_PROC_TRUNC_CWD;
  bpf_ringbuf_submit(m, 0);
  return 0;
}

SEC("raw_tp/sched_process_exit")
int tgd_proc_exit(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *task = (struct task_struct *)ctx->args[0];
  /* Only the exit that ends the thread group is a process exit. */
  struct signal_struct *sig = BPF_CORE_READ(task, signal);
  if (BPF_CORE_READ(sig, live.counter) != 0) return 0;
  struct tgd_proc_msg *m = reserve();
  if (!m) return 0;
  __builtin_memset(m, 0, 136);
  m->op = TGD_PROC_MSG_EXIT;
  fill_task(m, task);
  m->exit_code = BPF_CORE_READ(task, exit_code);
  bpf_ringbuf_submit(m, 0);
  return 0;
}

SEC("raw_tp/sched_process_fork")
int tgd_proc_fork(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *child = (struct task_struct *)ctx->args[1];
  if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid)) return 0; /* a thread */
  struct tgd_proc_msg *m = reserve();
  if (!m) return 0;
  __builtin_memset(m, 0, 136);
  m->op = TGD_PROC_MSG_CLONE;
  fill_task(m, child);
  m->ppid = BPF_CORE_READ(child, real_parent, tgid);
  bpf_ringbuf_submit(m, 0);
  return 0;
}
