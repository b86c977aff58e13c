/* Process lineage for the selectors that look past the current task:
 * namespace inodes and capabilities of a task, the followForks pid chain,
 * the exec-time credentials of matchCapabilityChanges /
 * matchNamespaceChanges, and the trackers' bookkeeping at exec, fork and
 * exit (maps in eval_maps.bpf.h, switched on by tgd_track_flags). Part of
 * eval.bpf.h. */
#ifndef TGDISPATCH_BPF_DISPATCH_LINEAGE_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_LINEAGE_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/dispatch/eval_maps.bpf.h"
#include "bpf/dispatch/hook.bpf.h"
#include "bpf/process/process_msg.h"

static __always_inline int lineage_in_set(__u32 policy, __u32 tag, __u64 value) {
  struct tgd_int_key k = {.policy_id = policy, .tag = tag, .value = value};
  return bpf_map_lookup_elem(&tgd_int_values, &k) != 0;
}

static __always_inline __u32 ns_inum(struct task_struct *task, __u8 ns) {
  struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
  switch (ns) {
    case TGD_NS_UTS: return BPF_CORE_READ(nsp, uts_ns, ns.inum);
    case TGD_NS_IPC: return BPF_CORE_READ(nsp, ipc_ns, ns.inum);
    case TGD_NS_MNT: return BPF_CORE_READ(nsp, mnt_ns, ns.inum);
    case TGD_NS_PID: {
      unsigned int level = BPF_CORE_READ(task, thread_pid, level);
      return BPF_CORE_READ(task, thread_pid, numbers[level & 31].ns, ns.inum);
    }
    case TGD_NS_PID_FOR_CHILDREN: return BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
    case TGD_NS_NET: return BPF_CORE_READ(nsp, net_ns, ns.inum);
    case TGD_NS_TIME: return BPF_CORE_READ(nsp, time_ns, ns.inum);
    case TGD_NS_TIME_FOR_CHILDREN: return BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
    case TGD_NS_CGROUP: return BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
    case TGD_NS_USER: return BPF_CORE_READ(task, cred, user_ns, ns.inum);
  }
  return 0;
}

static __always_inline __u32 tgd_track_flags_get(void) {
  __u32 zero = 0;
  __u32 *f = bpf_map_lookup_elem(&tgd_track_flags, &zero);
  return f ? *f : 0;
}

/* ------------------------------------------------------------ credentials */

static __always_inline void tgd_read_caps(struct task_struct *task, struct tgd_exec_creds *c) {
  const struct cred *cred = BPF_CORE_READ(task, cred);
  c->caps[0] = BPF_CORE_READ(cred, cap_effective.val);
  c->caps[1] = BPF_CORE_READ(cred, cap_inheritable.val);
  c->caps[2] = BPF_CORE_READ(cred, cap_permitted.val);
}

struct ns_read_ctx {
  struct task_struct *task;
  struct tgd_exec_creds *c;
};

static long ns_read_step(__u32 i, void *data) {
  struct ns_read_ctx *r = data;
  if (i >= TGD_NS_COUNT) return 1;
  __u32 v = ns_inum(r->task, i);
  struct tgd_exec_creds *c = r->c;
  TGD_MASK(i, 15);
  if (i < TGD_NS_COUNT) c->ns[i] = v;
  return 0;
}

static __always_inline void tgd_read_ns(struct task_struct *task, struct tgd_exec_creds *c) {
  struct ns_read_ctx r = {.task = task, .c = c};
  bpf_loop(TGD_NS_COUNT, ns_read_step, &r, 0);
}

/* ------------------------------------------------------------ followForks */

struct pid_chain_ctx {
  struct task_struct *task; /* the level looked at (a thread group leader) */
  __u32 policy, tag;
  int ns;                   /* isNamespacePID: each level's pid in its own namespace */
  int found;
};

static __always_inline __u32 tgd_ns_tgid(struct task_struct *leader) {
  unsigned int level = BPF_CORE_READ(leader, thread_pid, level);
  return BPF_CORE_READ(leader, thread_pid, numbers[level & 31].nr);
}

static long pid_chain_step(__u32 i, void *data) {
  struct pid_chain_ctx *c = data;
  struct task_struct *t = c->task;
  if (!t) return 1;
  __u32 tgid = BPF_CORE_READ(t, tgid);
  if (tgid == 0) return 1; /* past init */
  struct task_struct *parent = BPF_CORE_READ(t, real_parent, group_leader);
  if (c->ns) {
    if (lineage_in_set(c->policy, c->tag, tgd_ns_tgid(t))) goto found;
  } else {
    if (lineage_in_set(c->policy, c->tag, tgid)) goto found;
    __u32 ptgid = parent ? BPF_CORE_READ(parent, tgid) : 0;
    if (ptgid && lineage_in_set(c->policy, c->tag, ptgid)) goto found;
  }
  if (parent == t) return 1;
  c->task = parent;
  return 0;
found:
  c->found = 1;
  return 1;
}

/* Whether the current process or one of its ancestors (TGD_PID_CHAIN_DEPTH
 * levels, as Tetragon walks its process map) is in the pid set. */
static __always_inline int tgd_pid_chain_in_set(struct task_struct *task, __u32 policy, __u32 tag, int ns) {
  struct pid_chain_ctx c = {.task = BPF_CORE_READ(task, group_leader), .policy = policy, .tag = tag, .ns = ns};
  bpf_loop(TGD_PID_CHAIN_DEPTH, pid_chain_step, &c, 0);
  return c.found;
}

/* ------------------------------------------------------------ change selectors */

/* After a change selector matched: the current values become the record,
 * so a change is reported once (as Tetragon). Also creates the record of a
 * process not known yet. */
static __always_inline void tgd_refresh_exec_creds(struct task_struct *task, __u32 tgid, int caps, int ns,
                                                   struct tgd_exec_creds *fresh) {
  struct tgd_exec_creds *init = bpf_map_lookup_elem(&tgd_exec_creds, &tgid);
  if (!init) {
    tgd_read_caps(task, fresh);
    tgd_read_ns(task, fresh);
    bpf_map_update_elem(&tgd_exec_creds, &tgid, fresh, BPF_NOEXIST);
    return;
  }
  if (caps) tgd_read_caps(task, init);
  if (ns) tgd_read_ns(task, init);
}

/* matchCapabilityChanges (Tetragon's semantics): with no exec-time record
 * the process is not known yet: record the current set and reject. In: a
 * capability of the mask changed; NotIn: only capabilities outside it. */
static __always_inline int tgd_cap_change_match(struct task_struct *task, __u32 tgid, __u8 op, __u8 type,
                                                __u64 mask, struct tgd_exec_creds *fresh) {
  struct tgd_exec_creds *init = bpf_map_lookup_elem(&tgd_exec_creds, &tgid);
  if (!init) {
    tgd_refresh_exec_creds(task, tgid, 1, 1, fresh);
    return 0;
  }
  if (type > 2) return 0;
  __u64 icaps = init->caps[type & 3];
  __u64 ccaps;
  const struct cred *cred = BPF_CORE_READ(task, cred);
  if (type == 1)
    ccaps = BPF_CORE_READ(cred, cap_inheritable.val);
  else if (type == 2)
    ccaps = BPF_CORE_READ(cred, cap_permitted.val);
  else
    ccaps = BPF_CORE_READ(cred, cap_effective.val);
  if ((icaps & mask) != (ccaps & mask)) return op == TGD_OP_EQ;
  if (icaps != ccaps) return op == TGD_OP_NEQ;
  return 0;
}

struct ns_change_ctx {
  struct task_struct *task;
  struct tgd_exec_creds *init;
  __u16 mask; /* namespaces to look at */
  int changed;
};

static long ns_change_step(__u32 i, void *data) {
  struct ns_change_ctx *c = data;
  if (i >= TGD_NS_COUNT) return 1;
  if (!(c->mask & (1u << i))) return 0;
  struct tgd_exec_creds *init = c->init;
  __u32 j = i;
  TGD_MASK(j, 15);
  if (j >= TGD_NS_COUNT) return 1;
  __u32 was = init->ns[j];
  if (was == 0) return 0; /* not recorded: ignored */
  if (was != ns_inum(c->task, j)) {
    c->changed = 1;
    return 1;
  }
  return 0;
}

/* matchNamespaceChanges: In: one of the mask's namespaces changed since
 * exec; NotIn: one outside the mask changed. */
static __always_inline int tgd_ns_change_match(struct task_struct *task, __u32 tgid, __u8 op, __u16 mask,
                                               struct tgd_exec_creds *fresh) {
  struct tgd_exec_creds *init = bpf_map_lookup_elem(&tgd_exec_creds, &tgid);
  if (!init) {
    tgd_refresh_exec_creds(task, tgid, 1, 1, fresh);
    return 0;
  }
  __u16 look = op == TGD_OP_EQ ? mask : (__u16)(~mask & ((1u << TGD_NS_COUNT) - 1));
  struct ns_change_ctx c = {.task = task, .init = init, .mask = look};
  bpf_loop(TGD_NS_COUNT, ns_change_step, &c, 0);
  return c.changed;
}

/* ------------------------------------------------------------ trackers */

/* At exec, before the exec tracker stores the new binary: what the parent
 * binary and exec-time credential trackers keep. `prev` is the process's
 * binary before this exec (NULL: unknown). */
static __always_inline void tgd_track_exec_before(__u32 flags, __u32 tgid, struct tgd_exec_path *prev) {
  if ((flags & TGD_TRACK_PARENT_BIN) && prev) bpf_map_update_elem(&tgd_parent_paths, &tgid, prev, BPF_ANY);
}

/* followChildren: ORs `bits` into the process's record. */
static __always_inline void tgd_follow_or(__u32 tgid, __u64 bits) {
  __u64 *cur = bpf_map_lookup_elem(&tgd_follow_bits, &tgid);
  if (cur) {
    __sync_fetch_and_or(cur, bits);
    return;
  }
  bpf_map_update_elem(&tgd_follow_bits, &tgid, &bits, BPF_NOEXIST);
  cur = bpf_map_lookup_elem(&tgd_follow_bits, &tgid);
  if (cur) __sync_fetch_and_or(cur, bits); /* lost a race with another writer */
}

/* At exec, once the new binary is stored: its followChildren bits, with the
 * parent's (the process's own stay across the exec). */
static __always_inline void tgd_follow_exec(struct task_struct *task, __u32 tgid) {
  __u64 bits = 0;
  struct tgd_exec_path *exe = bpf_map_lookup_elem(&tgd_exec_paths, &tgid);
  if (exe) {
    __u64 *b = bpf_map_lookup_elem(&tgd_follow_paths, exe->path);
    if (b) bits |= *b;
  }
  __u32 ptgid = BPF_CORE_READ(task, real_parent, tgid);
  __u64 *pb = bpf_map_lookup_elem(&tgd_follow_bits, &ptgid);
  if (pb) bits |= *pb;
  if (bits) tgd_follow_or(tgid, bits);
}

struct follow_walk_ctx {
  struct task_struct *task; /* the ancestor looked at next */
  __u64 bit;
  int found;
};

static long follow_walk_step(__u32 i, void *data) {
  struct follow_walk_ctx *c = data;
  struct task_struct *t = c->task;
  if (!t) return 1;
  __u32 tgid = BPF_CORE_READ(t, tgid);
  if (tgid == 0) return 1; /* past init */
  struct tgd_exec_path *exe = bpf_map_lookup_elem(&tgd_exec_paths, &tgid);
  if (exe) {
    __u64 *b = bpf_map_lookup_elem(&tgd_follow_paths, exe->path);
    if (b && (*b & c->bit)) {
      c->found = 1;
      return 1;
    }
  }
  struct task_struct *parent = BPF_CORE_READ(t, real_parent, group_leader);
  if (parent == t) return 1;
  c->task = parent;
  return 0;
}

/* matchBinaries followChildren: whether the process or an ancestor ran a
 * binary of bit `bit`'s values. The record answers for what ran since the
 * policy was loaded; an older process tree is looked up through its
 * ancestors' current binaries (TGD_PID_CHAIN_DEPTH levels, as Tetragon walks
 * its process map once per change), and a hit is recorded. */
static __always_inline int tgd_follow_match(struct task_struct *task, __u32 tgid, __u32 bit) {
  __u64 mask = 1ULL << (bit & (TGD_FOLLOW_IDS - 1));
  __u64 *cur = bpf_map_lookup_elem(&tgd_follow_bits, &tgid);
  if (cur && (*cur & mask)) return 1;
  struct follow_walk_ctx c = {.task = BPF_CORE_READ(task, real_parent, group_leader), .bit = mask};
  bpf_loop(TGD_PID_CHAIN_DEPTH, follow_walk_step, &c, 0);
  if (c.found) tgd_follow_or(tgid, mask);
  return c.found;
}

/* At exec, once the new binary is stored. */
static __always_inline void tgd_track_exec_after(__u32 flags, struct task_struct *task, __u32 tgid) {
  if (flags & TGD_TRACK_FOLLOW_CHILDREN) tgd_follow_exec(task, tgid);
  if (flags & TGD_TRACK_EXEC_CREDS) {
    struct tgd_exec_creds c = {};
    tgd_read_caps(task, &c);
    tgd_read_ns(task, &c);
    bpf_map_update_elem(&tgd_exec_creds, &tgid, &c, BPF_ANY);
  }
}

/* At fork of a new thread group: the child inherits the parent's records. */
static __always_inline void tgd_track_fork(__u32 flags, __u32 ptgid, __u32 tgid) {
  if (flags & TGD_TRACK_FOLLOW_CHILDREN) {
    __u64 *p = bpf_map_lookup_elem(&tgd_follow_bits, &ptgid);
    if (p && *p) tgd_follow_or(tgid, *p);
  }
  if (flags & TGD_TRACK_EXEC_CREDS) {
    struct tgd_exec_creds *p = bpf_map_lookup_elem(&tgd_exec_creds, &ptgid);
    if (p) bpf_map_update_elem(&tgd_exec_creds, &tgid, p, BPF_NOEXIST);
  }
}

/* At the exit of a thread group. */
static __always_inline void tgd_track_exit(__u32 flags, __u32 tgid) {
  if (!flags) return;
  bpf_map_delete_elem(&tgd_parent_paths, &tgid);
  bpf_map_delete_elem(&tgd_exec_creds, &tgid);
  bpf_map_delete_elem(&tgd_follow_bits, &tgid);
}

#endif /* TGDISPATCH_BPF_DISPATCH_LINEAGE_BPF_H_ */
