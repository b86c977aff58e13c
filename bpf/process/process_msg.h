/* Wire format of the base process sensor's ring buffer records, shared by
 * process_sensor.bpf.c and user space (sensor/process). One fixed layout for
 * every op; fixed-width fields, explicit padding, sizes checked by both
 * compilers. Op numbers are stable: never renumber, only add. */
#ifndef TGDISPATCH_BPF_PROCESS_PROCESS_MSG_H_
#define TGDISPATCH_BPF_PROCESS_PROCESS_MSG_H_

#ifndef __bpf__
#include <linux/types.h>
#endif

#define TGD_PROC_MSG_EXEC 1  /* a task completed execve */
#define TGD_PROC_MSG_EXIT 2  /* the last thread of a thread group exited */
#define TGD_PROC_MSG_CLONE 3 /* a new process (not a thread) was forked */

#define TGD_PROC_FILENAME_MAX 256
#define TGD_PROC_ARGS_MAX 1024
#define TGD_PROC_CWD_MAX 256
#define TGD_PROC_NS_COUNT 10

/* flags */
#define TGD_PROC_TRUNC_FILENAME (1u << 0)
#define TGD_PROC_TRUNC_ARGS (1u << 1)
#define TGD_PROC_TRUNC_CWD (1u << 2)
#define TGD_PROC_ERR_ARGS (1u << 3)

/* Order of ns[]: as tetragon.Namespaces numbers its fields (minus one). */
enum tgd_proc_ns {
  TGD_NS_UTS = 0,
  TGD_NS_IPC,
  TGD_NS_MNT,
  TGD_NS_PID,
  TGD_NS_PID_FOR_CHILDREN,
  TGD_NS_NET,
  TGD_NS_TIME,
  TGD_NS_TIME_FOR_CHILDREN,
  TGD_NS_CGROUP,
  TGD_NS_USER,
};

struct tgd_proc_msg {
  __u8 op;
  __u8 pad0[3];
  __u32 flags;
  __u64 ktime;      /* CLOCK_MONOTONIC ns of the exec / clone / exit */
  __u32 pid;        /* tgid */
  __u32 tid;
  __u32 ppid;       /* real parent's tgid */
  __u32 exit_code;  /* exit: the kernel's wait status (code << 8 | signal) */
  __u32 uid, gid, euid, egid, auid;
  __u32 nspid;      /* tgid in the task's own (innermost) pid namespace */
  __u64 cgroup_id;
  __u64 cap_permitted, cap_effective, cap_inheritable;
  __u32 ns[TGD_PROC_NS_COUNT];
  __u16 filename_len; /* bytes used in filename, without the NUL */
  __u16 args_len;     /* bytes used in args: argv joined by NULs */
  __u16 cwd_len;
  __u16 pad2;
  char filename[TGD_PROC_FILENAME_MAX];
  char args[TGD_PROC_ARGS_MAX];
  char cwd[TGD_PROC_CWD_MAX];
};

#ifdef __cplusplus
static_assert(sizeof(struct tgd_proc_msg) == 1672, "tgd_proc_msg layout changed");
static_assert(__builtin_offsetof(struct tgd_proc_msg, cgroup_id) == 56, "tgd_proc_msg layout changed");
#else
_Static_assert(sizeof(struct tgd_proc_msg) == 1672, "tgd_proc_msg layout changed");
_Static_assert(__builtin_offsetof(struct tgd_proc_msg, cgroup_id) == 56, "tgd_proc_msg layout changed");
#endif

#endif /* TGDISPATCH_BPF_PROCESS_PROCESS_MSG_H_ */
