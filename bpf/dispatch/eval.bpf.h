/* The policy evaluation shared by the dispatcher's policy programs
 * (dispatch.bpf.c) and the per-policy comparison loader (per_policy.bpf.c):
 * the shared maps, argument reading, selectors, actions and event posting.
 * Included once per BPF object. */
#ifndef TGDISPATCH_BPF_DISPATCH_EVAL_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_EVAL_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/process/path.bpf.h"
#include "bpf/process/process_msg.h"
#include "compat/policyfilter/policy_filter_maps.bpf.h"

/* Set per hook instance before load. */
const volatile __u32 tgd_hook_id = 0;

struct tgd_cfg_inner {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_policy_cfg);
};

struct tgd_run_inner {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_run_list);
};

/* The inner map templates, also declared as maps so that the compiler emits
 * the full value types into BTF (libbpf needs their sizes). */
struct tgd_cfg_inner tgd_cfg_template SEC(".maps");
struct tgd_run_inner tgd_run_template SEC(".maps");

/* policy id -> its compiled config (one-element inner array). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __array(values, struct tgd_cfg_inner);
} tgd_policy_cfgs SEC(".maps");

/* (hook, cgroup) -> policies to run (one-element inner array). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, 65536);
  __type(key, struct tgd_run_key);
  __array(values, struct tgd_run_inner);
} tgd_run_lists SEC(".maps");

/* Value sets: integers (matchArgs Equal/NotEqual, matchPIDs, matchNamespaces),
 * exact strings, string prefixes, reversed string postfixes. Elements are
 * allocated on insert (BPF_F_NO_PREALLOC); a hash still allocates its bucket
 * array (16 bytes a slot) up front, so the sizes are moderate (user space
 * may change them before load). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 18);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_int_key);
  __type(value, __u8);
} tgd_int_values SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 18);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_str_key);
  __type(value, __u8);
} tgd_str_values SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1 << 18);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_lpm_key);
  __type(value, __u8);
} tgd_str_prefix SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1 << 18);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tgd_lpm_key);
  __type(value, __u8);
} tgd_str_postfix SEC(".maps");

/* Exec tracker: thread group id -> current binary path. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct tgd_exec_path);
} tgd_exec_paths SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tgd_exec_path);
} tgd_exec_scratch SEC(".maps");

struct tgd_scratch {
  __u64 busy;
  struct tgd_policy_event ev;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TGD_SCRATCH_SLOTS);
  __type(key, __u32);
  __type(value, struct tgd_scratch);
} tgd_scratch SEC(".maps");

/* Policy events. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 22);
} tgd_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, struct tgd_hook_stats);
} tgd_stats SEC(".maps");

/* Rate-limited Posts: (policy, selector, action, scope, argument bytes) ->
 * time of the last posted event. LRU: the least recently used keys make
 * room (an evicted key posts again), so the map never fills. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct tgd_rate_key);
  __type(value, __u64);
} tgd_rate_limits SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_hook_flags SEC(".maps");

/* The policy program of each hook, by hook id; one array per program type. */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_tail_tp SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_tail_rawtp SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_tail_kprobe SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, TGD_MAX_HOOKS);
  __type(key, __u32);
  __type(value, __u32);
} tgd_tail_lsm SEC(".maps");

/* ---------------------------------------------------------------- helpers */

/* Masks an index in a way the compiler cannot drop, so the verifier sees the
 * bound even where the compiler already proved it. `mask` = 2^k - 1. */
#define TGD_MASK(var, mask) asm volatile("%0 &= " #mask : "+r"(var))
/* Forces a 64-bit index below `max` (to 0 when it is not), visibly to the
 * verifier. */
#define TGD_CLAMP(var, max) asm volatile("if %0 < " #max " goto +1; %0 = 0" : "+r"(var))

static __always_inline struct tgd_hook_stats *hook_stats(void) {
  __u32 hook = tgd_hook_id;
  return bpf_map_lookup_elem(&tgd_stats, &hook);
}

/* The current task's cgroup through the tracker: a container's sub-cgroups
 * count as the container. *is_pod tells whether the cgroup is a tracked
 * (pod container) one; the others are "host" cgroups for hostSelector. */
static __always_inline __u64 current_cgroup(int *is_pod) {
  __u64 cgid = bpf_get_current_cgroup_id();
  __u64 *tracked = bpf_map_lookup_elem(&tg_cgtracker_map, &cgid);
  *is_pod = tracked != 0;
  return tracked ? *tracked : cgid;
}

static __always_inline struct tgd_run_list *run_list(__u64 cgid) {
  struct tgd_run_key k = {.hook_id = tgd_hook_id, .cgroup_id = cgid};
  void *inner = bpf_map_lookup_elem(&tgd_run_lists, &k);
  if (!inner) return 0;
  __u32 zero = 0;
  return bpf_map_lookup_elem(inner, &zero);
}

static __always_inline int has_run_list(__u64 cgid) {
  struct tgd_run_key k = {.hook_id = tgd_hook_id, .cgroup_id = cgid};
  return bpf_map_lookup_elem(&tgd_run_lists, &k) != 0;
}

static __always_inline __u32 hook_flags(void) {
  __u32 hook = tgd_hook_id;
  __u32 *f = bpf_map_lookup_elem(&tgd_hook_flags, &hook);
  return f ? *f : 0;
}

static __always_inline int dispatch(void *ctx, void *tail_map) {
  int is_pod = 0;
  __u64 cgid = current_cgroup(&is_pod);
  __u32 flags = hook_flags();
  if (!has_run_list(cgid) && !(flags & TGD_HOOKF_UNFILTERED) && (is_pod || !(flags & TGD_HOOKF_HOST)))
    return 0;
  struct tgd_hook_stats *st = hook_stats();
  if (st) st->runs++;
  bpf_tail_call(ctx, tail_map, tgd_hook_id);
  if (st) st->tail_call_fail++;
  return 0;
}

static __always_inline int int_in_set(__u32 policy, __u32 tag, __u64 value) {
  struct tgd_int_key k = {.policy_id = policy, .tag = tag, .value = value};
  return bpf_map_lookup_elem(&tgd_int_values, &k) != 0;
}

struct rev_ctx {
  char *dst;
  const char *src;
  __u32 len;
};

static long rev_step(__u32 i, void *data) {
  struct rev_ctx *r = data;
  __u32 len = r->len;
  if (i >= len || len > TGD_STR_MAX) return 1;
  __u64 to = i;
  __u64 from = len - 1 - i;
  TGD_CLAMP(to, 240);
  TGD_CLAMP(from, 240);
  char *dst = r->dst;
  const char *src = r->src;
  dst[to] = src[from];
  return 0;
}

/* Looks up string `s` (length len, zero padded to TGD_STR_MAX) in the value
 * set of clause (policy, tag) with operator `op`; returns whether the clause
 * matches. Uses ev->key and ev->rev as scratch. */
static __always_inline int str_match(struct tgd_policy_event *ev, __u32 policy, __u32 tag, __u8 op,
                                     const char *s, __u32 len) {
  struct tgd_lpm_key *key = &ev->key;
  key->policy_id = policy;
  key->tag = tag;
  int found = 0;
  if (len >= TGD_STR_MAX) {
    found = 0; /* too long to be in any set (values are refused at add time) */
  } else if (op == TGD_OP_EQ || op == TGD_OP_NEQ) {
    __builtin_memcpy(key->s, s, TGD_STR_MAX);
    found = bpf_map_lookup_elem(&tgd_str_values, &key->policy_id) != 0;
  } else if (op == TGD_OP_PREFIX || op == TGD_OP_NOT_PREFIX) {
    __builtin_memcpy(key->s, s, TGD_STR_MAX);
    key->prefixlen = 64 + 8 * len;
    found = bpf_map_lookup_elem(&tgd_str_prefix, key) != 0;
  } else if (op == TGD_OP_POSTFIX || op == TGD_OP_NOT_POSTFIX) {
    struct rev_ctx r = {.dst = key->s, .src = s, .len = len};
    bpf_loop(TGD_STR_MAX, rev_step, &r, 0);
    key->prefixlen = 64 + 8 * len;
    found = bpf_map_lookup_elem(&tgd_str_postfix, key) != 0;
  } else {
    return 0;
  }
  if (op == TGD_OP_NEQ || op == TGD_OP_NOT_PREFIX || op == TGD_OP_NOT_POSTFIX) return !found;
  return found;
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

struct sel_ctx {
  struct tgd_policy_cfg *cfg;
  struct tgd_policy_event *ev;
  int matched; /* index of the first matching selector, -1: none */
};

static __always_inline int int_clause_match(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev,
                                            __u32 sel, __u32 i) {
  TGD_MASK(sel, 7);
  if (sel >= TGD_MAX_SELECTORS) return 0;
  struct tgd_int_clause *c = &cfg->sel[sel].ints[i];
  __u32 pos = c->arg;
  TGD_MASK(pos, 7);
  if (pos >= TGD_MAX_ARGS) return 0;
  struct tgd_arg_val *v = &ev->args[pos];
  if (v->type != TGD_ARG_INT) return 0;
  int is_signed = cfg->args[pos].is_signed;
  __u64 x = v->u64;
  switch (c->op) {
    case TGD_OP_EQ: return int_in_set(cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_INT, i), x);
    case TGD_OP_NEQ: return !int_in_set(cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_INT, i), x);
    case TGD_OP_GT: return is_signed ? (__s64)x > (__s64)c->value : x > c->value;
    case TGD_OP_LT: return is_signed ? (__s64)x < (__s64)c->value : x < c->value;
    case TGD_OP_MASK: return (x & c->value) != 0;
  }
  return 0;
}

static __always_inline int str_clause_match(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev,
                                            __u32 sel, __u32 i) {
  TGD_MASK(sel, 7);
  if (sel >= TGD_MAX_SELECTORS) return 0;
  struct tgd_str_clause *c = &cfg->sel[sel].strs[i];
  __u32 pos = c->arg;
  TGD_MASK(pos, 7);
  if (pos >= TGD_MAX_ARGS) return 0;
  struct tgd_arg_val *v = &ev->args[pos];
  if (v->type != TGD_ARG_STR_USER && v->type != TGD_ARG_STR_KERNEL && v->type != TGD_ARG_DATA_LOC_STR &&
      v->type != TGD_ARG_INLINE_STR)
    return 0;
  return str_match(ev, cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_STR, i), c->op, v->str, v->len);
}

/* The clauses of one selector, each kind in its own bpf_loop: the verifier
 * checks a clause body once, instead of every combination of outcomes of
 * the unrolled clauses before it (which exceeds its 1M-instruction budget
 * on some kernels). */
_Static_assert(TGD_MAX_NS_CLAUSES == 4 && TGD_MAX_INT_CLAUSES == 4 && TGD_MAX_STR_CLAUSES == 4,
               "the clause steps mask their index with 3");

struct clause_ctx {
  struct tgd_policy_cfg *cfg;
  struct tgd_policy_event *ev;
  struct task_struct *task;
  __u32 sel;
  int failed; /* a clause did not match */
};

static long ns_clause_step(__u32 i, void *data) {
  struct clause_ctx *cc = data;
  struct tgd_policy_cfg *cfg = cc->cfg;
  __u32 sel = cc->sel;
  TGD_MASK(sel, 7);
  TGD_MASK(i, 3);
  if (!cfg || sel >= TGD_MAX_SELECTORS) return 1;
  struct tgd_ns_clause *c = &cfg->sel[sel].ns[i];
  int in = int_in_set(cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_NS, i), ns_inum(cc->task, c->ns));
  if ((c->op == TGD_OP_EQ) != in) {
    cc->failed = 1;
    return 1;
  }
  return 0;
}

static long int_clause_step(__u32 i, void *data) {
  struct clause_ctx *cc = data;
  TGD_MASK(i, 3);
  if (!cc->cfg || !cc->ev || !int_clause_match(cc->cfg, cc->ev, cc->sel, i)) {
    cc->failed = 1;
    return 1;
  }
  return 0;
}

static long str_clause_step(__u32 i, void *data) {
  struct clause_ctx *cc = data;
  TGD_MASK(i, 3);
  if (!cc->cfg || !cc->ev || !str_clause_match(cc->cfg, cc->ev, cc->sel, i)) {
    cc->failed = 1;
    return 1;
  }
  return 0;
}

/* Runs bpf_loop over the first n (at most max) clauses; returns whether all matched. */
#define TGD_CLAUSES_MATCH(n, max, step, cc) \
  ((n) == 0 || (bpf_loop((n) > (max) ? (max) : (n), step, cc, 0), !(cc)->failed))

static long eval_selector(__u32 sel, void *data) {
  struct sel_ctx *sc = data;
  struct tgd_policy_cfg *cfg = sc->cfg;
  struct tgd_policy_event *ev = sc->ev;
  TGD_MASK(sel, 7);
  if (!cfg || !ev || sel >= TGD_MAX_SELECTORS) return 1;
  struct tgd_selector *s = &cfg->sel[sel];
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();

  if (s->pid_op) {
    __u32 pid = ev->pid;
    if (s->flags & TGD_SEL_PIDS_NS) {
      unsigned int level = BPF_CORE_READ(task, group_leader, thread_pid, level);
      pid = BPF_CORE_READ(task, group_leader, thread_pid, numbers[level & 31].nr);
    }
    int in = int_in_set(cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_PID, 0), pid);
    if ((s->pid_op == TGD_OP_EQ) != in) return 0;
  }
  if (s->bin_op) {
    struct tgd_exec_path *exe = bpf_map_lookup_elem(&tgd_exec_paths, &ev->pid);
    int m;
    if (exe) {
      m = str_match(ev, cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_BIN, 0), s->bin_op, exe->path,
                    exe->len);
    } else {
      /* Unknown binary: only the negated operators can match. */
      m = s->bin_op == TGD_OP_NEQ || s->bin_op == TGD_OP_NOT_PREFIX || s->bin_op == TGD_OP_NOT_POSTFIX;
    }
    if (!m) return 0;
  }
  if (s->cap_op) {
    __u64 caps;
    const struct cred *cred = BPF_CORE_READ(task, cred);
    if (s->cap_type == 1)
      caps = BPF_CORE_READ(cred, cap_inheritable.val);
    else if (s->cap_type == 2)
      caps = BPF_CORE_READ(cred, cap_permitted.val);
    else
      caps = BPF_CORE_READ(cred, cap_effective.val);
    int any = (caps & s->cap_mask) != 0;
    if ((s->cap_op == TGD_OP_EQ) != any) return 0;
  }
  struct clause_ctx cc = {.cfg = cfg, .ev = ev, .task = task, .sel = sel};
  if (!TGD_CLAUSES_MATCH(s->n_ns, TGD_MAX_NS_CLAUSES, ns_clause_step, &cc)) return 0;
  if (!TGD_CLAUSES_MATCH(s->n_int, TGD_MAX_INT_CLAUSES, int_clause_step, &cc)) return 0;
  if (!TGD_CLAUSES_MATCH(s->n_str, TGD_MAX_STR_CLAUSES, str_clause_step, &cc)) return 0;
  sc->matched = sel;
  return 1;
}

/* The index of the policy's first matching selector for this event,
 * TGD_MAX_SELECTORS when it has none (every event matches, action Post), or
 * -1. */
static __always_inline int match_selectors(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev) {
  if (!cfg || !ev) return -1;
  __u32 n = cfg->n_selectors;
  if (n == 0) return TGD_MAX_SELECTORS;
  /* Only the policy's selectors: an unused (zeroed) slot would match. */
  struct sel_ctx sc = {.cfg = cfg, .ev = ev, .matched = -1};
  bpf_loop(n > TGD_MAX_SELECTORS ? TGD_MAX_SELECTORS : n, eval_selector, &sc, 0);
  if (sc.matched < 0 || sc.matched >= (int)n) return -1;
  return sc.matched;
}

/* Reads argument `d` of the hook into `v`. `kind` is a compile-time constant. */
static __always_inline void read_arg(void *ctx, int kind, struct tgd_arg_desc *d, struct tgd_arg_val *v) {
  __u64 raw = 0;
  __u8 type = d->type;
  if (kind == TGD_HOOK_TRACEPOINT) {
    __u32 off = d->offset & 0xfff;
    if (type == TGD_ARG_DATA_LOC_STR) {
      __u32 loc = 0;
      bpf_probe_read_kernel(&loc, sizeof(loc), (char *)ctx + off);
      raw = (__u64)((char *)ctx + (loc & 0xffff));
    } else if (type == TGD_ARG_INLINE_STR) {
      raw = (__u64)((char *)ctx + off);
    } else if (type == TGD_ARG_INT && d->size == 1) {
      bpf_probe_read_kernel(&raw, 1, (char *)ctx + off);
    } else if (type == TGD_ARG_INT && d->size == 2) {
      bpf_probe_read_kernel(&raw, 2, (char *)ctx + off);
    } else if (type == TGD_ARG_INT && d->size == 4) {
      bpf_probe_read_kernel(&raw, 4, (char *)ctx + off);
    } else {
      bpf_probe_read_kernel(&raw, 8, (char *)ctx + off);
    }
  } else if (kind == TGD_HOOK_RAW_TP || kind == TGD_HOOK_LSM) {
    __u32 idx = d->index & 15;
    bpf_probe_read_kernel(&raw, 8, (char *)ctx + 8 * idx);
  } else {
    struct pt_regs *regs = ctx;
    if (d->src == TGD_SRC_REG + 1) { /* syscall wrapper: arguments in the inner pt_regs */
      regs = (struct pt_regs *)PT_REGS_PARM1(regs);
      switch (d->index) {
        case 0: raw = PT_REGS_PARM1_CORE_SYSCALL(regs); break;
        case 1: raw = PT_REGS_PARM2_CORE_SYSCALL(regs); break;
        case 2: raw = PT_REGS_PARM3_CORE_SYSCALL(regs); break;
        case 3: raw = PT_REGS_PARM4_CORE_SYSCALL(regs); break;
        case 4: raw = PT_REGS_PARM5_CORE_SYSCALL(regs); break;
      }
    } else {
      switch (d->index) {
        case 0: raw = PT_REGS_PARM1(regs); break;
        case 1: raw = PT_REGS_PARM2(regs); break;
        case 2: raw = PT_REGS_PARM3(regs); break;
        case 3: raw = PT_REGS_PARM4(regs); break;
        case 4: raw = PT_REGS_PARM5(regs); break;
      }
    }
  }
  v->type = type;
  v->len = 0;
  if (type == TGD_ARG_INT) {
    __u8 size = d->size;
    if (d->is_signed) {
      if (size == 1) raw = (__u64)(__s64)(__s8)raw;
      else if (size == 2) raw = (__u64)(__s64)(__s16)raw;
      else if (size == 4) raw = (__u64)(__s64)(__s32)raw;
    } else {
      if (size == 1) raw &= 0xff;
      else if (size == 2) raw &= 0xffff;
      else if (size == 4) raw &= 0xffffffff;
    }
    v->u64 = raw;
    return;
  }
  __builtin_memset(v->str, 0, TGD_STR_MAX);
  long n;
  if (type == TGD_ARG_STR_USER)
    n = bpf_probe_read_user_str(v->str, TGD_STR_MAX, (void *)raw);
  else
    n = bpf_probe_read_kernel_str(v->str, TGD_STR_MAX, (void *)raw);
  v->len = n > 0 ? (__u32)(n - 1) : 0;
}

/* Reads the policy's arguments, one bpf_loop step each (the verifier checks
 * one step, not every combination of argument kinds). One step function per
 * hook kind, since each reads its own context. */
struct args_ctx {
  void *ctx;
  struct tgd_policy_cfg *cfg;
  struct tgd_policy_event *ev;
};

#define DEFINE_ARG_READER(suffix, kind)                                   \
  static long read_arg_step_##suffix(__u32 a, void *data) {               \
    struct args_ctx *ac = data;                                           \
    TGD_MASK(a, 7);                                                       \
    if (a >= TGD_MAX_ARGS || !ac->cfg || !ac->ev) return 1;               \
    read_arg(ac->ctx, kind, &ac->cfg->args[a], &ac->ev->args[a]);         \
    return 0;                                                             \
  }

DEFINE_ARG_READER(tp, TGD_HOOK_TRACEPOINT)
DEFINE_ARG_READER(rawtp, TGD_HOOK_RAW_TP)
DEFINE_ARG_READER(kprobe, TGD_HOOK_KPROBE)
DEFINE_ARG_READER(lsm, TGD_HOOK_LSM)

/* The step function of a hook kind (a compile-time constant). */
#define ARG_READER(kind)                                                     \
  ((kind) == TGD_HOOK_TRACEPOINT ? read_arg_step_tp                          \
   : (kind) == TGD_HOOK_RAW_TP   ? read_arg_step_rawtp                       \
   : (kind) == TGD_HOOK_KPROBE   ? read_arg_step_kprobe                      \
                                 : read_arg_step_lsm)

/* Runs the matching selector's actions, one bpf_loop step each (checked
 * once by the verifier, not unrolled). */
struct actions_ctx {
  struct tgd_policy_cfg *cfg;
  struct tgd_policy_event *ev;
  struct tgd_hook_stats *st;
  __u32 sel;
  int post;
  __s32 verdict; /* LSM: the first denial (Override) */
  int rate_action; /* 1 + index of a Post with rateLimit (0: none) */
};

static long action_step(__u32 i, void *data) {
  struct actions_ctx *ac = data;
  struct tgd_policy_cfg *cfg = ac->cfg;
  struct tgd_policy_event *ev = ac->ev;
  struct tgd_hook_stats *st = ac->st;
  __u32 sel = ac->sel;
  TGD_MASK(sel, 7);
  TGD_MASK(i, 3);
  if (!cfg || !ev || sel >= TGD_MAX_SELECTORS) return 1;
  struct tgd_action *a = &cfg->sel[sel].actions[i];
  if (i == 0) ev->action = a->kind;
  if (a->kind == TGD_ACT_POST) {
    if (a->rate_limit_ms && !ac->rate_action) ac->rate_action = i + 1;
  } else if (a->kind == TGD_ACT_NOPOST) {
    ac->post = 0;
  } else if (a->kind == TGD_ACT_SIGKILL || a->kind == TGD_ACT_SIGNAL || a->kind == TGD_ACT_OVERRIDE) {
    if (cfg->flags & TGD_POLICY_MONITOR) {
      ev->flags |= TGD_EVF_MONITOR;
      if (st) st->monitor_actions++;
    } else if (a->kind == TGD_ACT_OVERRIDE) {
      if (ac->verdict == 0) ac->verdict = a->arg_error;
      if (st) st->actions++;
    } else {
      if (bpf_send_signal(a->kind == TGD_ACT_SIGKILL ? 9 : a->sig) != 0) ev->flags |= TGD_EVF_SIGNAL_FAILED;
      if (st) st->actions++;
    }
  }
  return 0;
}

_Static_assert(TGD_MAX_ACTIONS == 4, "action_step masks its index with 3");

/* Runs the matching selector's actions; returns whether to post. The first
 * denial (Override) of any policy of the event wins: *verdict is set only
 * while it is 0. *rate_action: 1 + index of the Post with rateLimit. */
static __always_inline int run_actions(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, int sel,
                                       struct tgd_hook_stats *st, __s32 *verdict, int *rate_action) {
  ev->action = TGD_ACT_POST;
  if (sel < 0 || sel >= TGD_MAX_SELECTORS) return 1; /* no selectors: Post */
  __u32 n = cfg->sel[sel & 7].n_actions;
  struct actions_ctx ac = {.cfg = cfg, .ev = ev, .st = st, .sel = sel, .post = 1, .verdict = *verdict};
  bpf_loop(n > TGD_MAX_ACTIONS ? TGD_MAX_ACTIONS : n, action_step, &ac, 0);
  *verdict = ac.verdict;
  *rate_action = ac.rate_action;
  return ac.post;
}

/* Whether a rate-limited Post must be dropped: an event with the same key
 * was posted less than its interval ago. Otherwise records this one. The
 * key is built in ev->rate (scratch). */
static __always_inline int rate_limited(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, int sel,
                                        int action) {
  TGD_MASK(sel, 7);
  TGD_MASK(action, 3);
  if (sel >= TGD_MAX_SELECTORS) return 0;
  struct tgd_action *a = &cfg->sel[sel].actions[action];
  struct tgd_rate_key *k = &ev->rate;
  __builtin_memset(k, 0, sizeof(*k));
  k->policy_id = cfg->policy_id;
  k->sel = sel;
  k->action = action;
  if (a->rate_scope == TGD_RATE_THREAD)
    k->scope_id = ev->tid;
  else if (a->rate_scope == TGD_RATE_PROCESS)
    k->scope_id = ev->pid;
  for (__u32 i = 0; i < TGD_MAX_ARGS; i++) {
    struct tgd_arg_val *v = &ev->args[i];
    char *dst = k->data + i * TGD_RATE_BYTES_PER_ARG;
    if (v->type == TGD_ARG_INT)
      __builtin_memcpy(dst, &v->u64, sizeof(v->u64));
    else if (v->type != 0)
      __builtin_memcpy(dst, v->str, TGD_RATE_BYTES_PER_ARG);
  }
  __u64 now = bpf_ktime_get_ns();
  __u64 *last = bpf_map_lookup_elem(&tgd_rate_limits, k);
  if (last && now - *last < (__u64)a->rate_limit_ms * 1000000) return 1;
  bpf_map_update_elem(&tgd_rate_limits, k, &now, BPF_ANY);
  return 0;
}

/* An LSM verdict: 0 allows, -errno denies (the first Override wins). */
struct tgd_verdict {
  __s32 verdict;
  __u32 pad;
};

/* Decides one evaluation whose arguments are read: finds the matching
 * selector, runs its actions and posts the event (only posted events touch
 * the ring buffer: evaluations that do not match cost it nothing). A global
 * function: the verifier checks it once, on its own, instead of once per
 * path of every caller (which exceeds its 1M-instruction budget on some
 * kernels). */
__noinline int tgd_decide(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, struct tgd_verdict *v) {
  if (!cfg || !ev || !v) return 0;
  int matched = match_selectors(cfg, ev);
  if (matched < 0) return 0;
  struct tgd_hook_stats *st = hook_stats();
  __s32 verdict = v->verdict;
  int rate_action = 0;
  int post = run_actions(cfg, ev, matched, st, &verdict, &rate_action);
  v->verdict = verdict;
  if (!post) return 0;
  if (rate_action && rate_limited(cfg, ev, matched, rate_action - 1)) {
    if (st) st->rate_limited++;
    return 0;
  }
  if (bpf_ringbuf_output(&tgd_events, ev, TGD_EVENT_WIRE_SIZE, 0) == 0) {
    if (st) st->posted++;
    return 1;
  }
  if (st) st->lost++;
  return 0;
}

struct eval_ctx {
  void *ctx;
  struct tgd_run_list *list;
  struct tgd_hook_stats *st;
  __u64 cgid;
  __s32 verdict; /* LSM: 0 allows, -errno denies (Override) */
};

/* Evaluates policy `id` for this event: reads its arguments into a ring
 * buffer reservation, runs its selectors, acts and posts or discards. */
static __always_inline void eval_one(struct eval_ctx *ec, __u32 id, int kind) {
  void *inner = bpf_map_lookup_elem(&tgd_policy_cfgs, &id);
  if (!inner) return;
  __u32 zero = 0;
  struct tgd_policy_cfg *cfg = bpf_map_lookup_elem(inner, &zero);
  if (!cfg || !(cfg->flags & TGD_POLICY_ENABLED)) return;
  struct tgd_hook_stats *st = ec->st;
  if (st) st->evaluated++;
  /* Claim a scratch slot of this CPU; a preempted evaluation keeps its own. */
  struct tgd_scratch *slot = 0;
  for (__u32 i = 0; i < TGD_SCRATCH_SLOTS; i++) {
    __u32 k = i;
    struct tgd_scratch *s = bpf_map_lookup_elem(&tgd_scratch, &k);
    if (s && __sync_val_compare_and_swap(&s->busy, 0, 1) == 0) {
      slot = s;
      break;
    }
  }
  if (!slot) {
    if (st) st->scratch_busy++;
    return;
  }
  struct tgd_policy_event *ev = &slot->ev;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  ev->op = TGD_EV_POLICY;
  ev->policy_id = id;
  ev->hook_id = tgd_hook_id;
  ev->action = 0;
  ev->flags = 0;
  ev->pid = pid_tgid >> 32;
  ev->tid = (__u32)pid_tgid;
  ev->ktime = bpf_ktime_get_ns();
  ev->cgroup_id = ec->cgid;
  __u32 n_args = cfg->n_args;
  ev->n_args = n_args;
  for (__u32 a = 0; a < TGD_MAX_ARGS; a++) ev->args[a].type = 0;
  struct args_ctx ac = {.ctx = ec->ctx, .cfg = cfg, .ev = ev};
  if (n_args > TGD_MAX_ARGS) n_args = TGD_MAX_ARGS;
  bpf_loop(n_args, ARG_READER(kind), &ac, 0);
  struct tgd_verdict v = {.verdict = ec->verdict};
  tgd_decide(cfg, ev, &v);
  ec->verdict = v.verdict;
  slot->busy = 0;
  return;
}

static __always_inline long eval_policy(__u32 i, struct eval_ctx *ec, int kind) {
  struct tgd_run_list *l = ec->list;
  if (!l) return 1;
  __u32 n = l->n;
  if (i >= n || i >= TGD_RUN_MAX) return 1;
  TGD_MASK(i, 63);
  eval_one(ec, l->policy[i], kind);
  return 0;
}

/* An LSM verdict the verifier accepts: 0 or a negative errno. */
static __always_inline int tgd_verdict(__s32 v) {
  if (v < -4095 || v > 0) return 0;
  return v;
}

/* Counts an event whose run list was cut at TGD_RUN_MAX. */
static __always_inline void count_truncated(struct tgd_run_list *l, struct tgd_hook_stats *st) {
  if (l && st && (l->flags & TGD_RUNF_TRUNCATED)) st->truncated_lists++;
}

#define DEFINE_EVALUATOR(suffix, kind)                                                    \
  static long eval_policy_##suffix(__u32 i, void *data) { return eval_policy(i, data, kind); } \
  static __always_inline int evaluate_##suffix(void *ctx) {                              \
    struct eval_ctx ec = {.ctx = ctx, .st = hook_stats()};                               \
    int is_pod = 0;                                                                       \
    __u64 cgid = current_cgroup(&is_pod);                                                 \
    ec.cgid = cgid;                                                                       \
    __u32 flags = hook_flags();                                                           \
    if (flags & TGD_HOOKF_UNFILTERED) {                                                   \
      ec.list = run_list(0);                                                              \
      count_truncated(ec.list, ec.st);                                                    \
      if (ec.list) bpf_loop(TGD_RUN_MAX, eval_policy_##suffix, &ec, 0);                  \
    }                                                                                     \
    ec.list = run_list(cgid);                                                             \
    count_truncated(ec.list, ec.st);                                                      \
    if (ec.list) bpf_loop(TGD_RUN_MAX, eval_policy_##suffix, &ec, 0);                    \
    if (!is_pod && (flags & TGD_HOOKF_HOST)) {                                            \
      ec.list = run_list(POLICY_FILTER_HOST_CGROUP_KEY);                                  \
      count_truncated(ec.list, ec.st);                                                    \
      if (ec.list) bpf_loop(TGD_RUN_MAX, eval_policy_##suffix, &ec, 0);                  \
    }                                                                                     \
    return tgd_verdict(ec.verdict);                                                       \
  }

DEFINE_EVALUATOR(tp, TGD_HOOK_TRACEPOINT)
DEFINE_EVALUATOR(rawtp, TGD_HOOK_RAW_TP)
DEFINE_EVALUATOR(kprobe, TGD_HOOK_KPROBE)
DEFINE_EVALUATOR(lsm, TGD_HOOK_LSM)

#endif /* TGDISPATCH_BPF_DISPATCH_EVAL_BPF_H_ */
