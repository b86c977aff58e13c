/* Selector matching: value-set lookups (integers, strings, prefixes,
 * postfixes), namespace inodes, the matchArgs / matchNamespaces clauses,
 * matchPIDs / matchBinaries / matchCapabilities, and the first matching
 * selector of a policy. Part of eval.bpf.h. */
#ifndef TGDISPATCH_BPF_DISPATCH_SELECTORS_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_SELECTORS_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/dispatch/arg_readers.bpf.h"
#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/dispatch/eval_maps.bpf.h"
#include "bpf/dispatch/hook.bpf.h"
#include "bpf/dispatch/lineage.bpf.h"

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

/* Substring search: whether a value of the clause (stored as a prefix) is a
 * prefix of src[i..] for some i: one LPM lookup per position. */
struct substr_ctx {
  struct tgd_lpm_key *key;
  const char *src;
  __u32 len;
  int found;
};

static long substr_step(__u32 i, void *data) {
  struct substr_ctx *c = data;
  __u32 len = c->len;
  if (i >= len || len > TGD_STR_MAX) return 1;
  struct tgd_lpm_key *key = c->key;
  bpf_probe_read_kernel(key->s, TGD_STR_MAX, c->src + i);
  key->prefixlen = 64 + 8 * (len - i);
  if (bpf_map_lookup_elem(&tgd_str_prefix, key)) {
    c->found = 1;
    return 1;
  }
  return 0;
}

struct lower_ctx {
  char *dst;
  const char *src;
  __u32 len;
};

static long lower_step(__u32 i, void *data) {
  struct lower_ctx *l = data;
  if (i >= l->len) return 1;
  __u64 at = i;
  TGD_CLAMP(at, 240);
  char ch = l->src[at];
  if (ch >= 'A' && ch <= 'Z') ch += 'a' - 'A';
  l->dst[at] = ch;
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
  } else if (op == TGD_OP_SUBSTRING || op == TGD_OP_SUBSTRING_NOCASE) {
    const char *src = s;
    if (op == TGD_OP_SUBSTRING_NOCASE) {
      struct lower_ctx l = {.dst = ev->rev, .src = s, .len = len};
      bpf_loop(TGD_STR_MAX, lower_step, &l, 0);
      src = ev->rev;
    }
    struct substr_ctx c = {.key = key, .src = src, .len = len};
    bpf_loop(TGD_STR_MAX, substr_step, &c, 0);
    found = c.found;
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

static __always_inline int bin_negated(__u8 op) {
  return op == TGD_OP_NEQ || op == TGD_OP_NOT_PREFIX || op == TGD_OP_NOT_POSTFIX;
}

/* matchBinaries of selector `sel`: the exec tracker is read once per event
 * (ev->memo); In/NotIn look the path's hash up first (a 16-byte key) and the
 * exact path (248 bytes) only on a hash hit. A binary the tracker does not
 * know matches only the negated operators. */
static __always_inline int bin_match(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, __u32 sel) {
  TGD_MASK(sel, 7);
  if (sel >= TGD_MAX_SELECTORS) return 0;
  struct tgd_selector *s = &cfg->sel[sel];
  __u8 op = s->bin_op;
  struct tgd_eval_memo *m = &ev->memo;
  if (m->exe_state == TGD_EXE_UNKNOWN) {
    struct tgd_exec_path *exe = bpf_map_lookup_elem(&tgd_exec_paths, &ev->pid);
    m->exe_state = exe ? TGD_EXE_FOUND : TGD_EXE_ABSENT;
    m->exe_hash = exe ? exe->hash : 0;
  }
  /* followChildren (In / NotIn): the process or an ancestor ran one. */
  if (s->bin_follow && tgd_follow_match((struct task_struct *)bpf_get_current_task(), ev->pid, s->bin_follow - 1))
    return op == TGD_OP_EQ;
  if (m->exe_state != TGD_EXE_FOUND) return bin_negated(op);
  if ((op == TGD_OP_EQ || op == TGD_OP_NEQ) &&
      !int_in_set(cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_BIN_HASH, 0), m->exe_hash))
    return op == TGD_OP_NEQ;
  struct tgd_exec_path *exe = bpf_map_lookup_elem(&tgd_exec_paths, &ev->pid);
  if (!exe) return bin_negated(op);
  return str_match(ev, cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_BIN, 0), op, exe->path, exe->len);
}

struct sel_ctx {
  struct tgd_policy_cfg *cfg;
  struct tgd_policy_event *ev;
  int matched; /* index of the first matching selector, -1: none */
  __u32 skip;  /* selectors that do not apply (match_selectors) */
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
  __u8 field = c->field;
  if (field == TGD_FIELD_VALUE ? (v->type != TGD_ARG_INT && v->type != TGD_ARG_CAP_SET)
                               : (field == TGD_FIELD_FILE_TYPE ? !tgd_arg_is_string(v->type) : !tgd_arg_is_net(v->type)))
    return 0;
  int is_signed = field == TGD_FIELD_VALUE && cfg->args[pos].is_signed;
  __u64 x = tgd_arg_field(v, field);
  __u32 tag = TGD_TAG(cfg->gen, sel, TGD_TAG_INT, i);
  switch (c->op) {
    case TGD_OP_EQ: return int_in_set(cfg->policy_id, tag, x);
    case TGD_OP_NEQ: return !int_in_set(cfg->policy_id, tag, x);
    case TGD_OP_GT: return is_signed ? (__s64)x > (__s64)c->value : x > c->value;
    case TGD_OP_LT: return is_signed ? (__s64)x < (__s64)c->value : x < c->value;
    case TGD_OP_MASK: return (x & c->value) != 0;
    case TGD_OP_CAPS_GAINED: { /* CapabilitiesGained: x is the old set */
      __u32 p2 = (__u32)c->value;
      TGD_MASK(p2, 7);
      if (p2 >= TGD_MAX_ARGS) return 0;
      struct tgd_arg_val *nv = &ev->args[p2];
      if (nv->type != TGD_ARG_CAP_SET) return 0;
      return ((x ^ nv->u64) & nv->u64) != 0;
    }
    case TGD_OP_IN_RANGE:
    case TGD_OP_NOT_IN_RANGE: {
      int in = c->has_range && (is_signed ? ((__s64)x >= (__s64)c->value && (__s64)x <= (__s64)c->value2)
                                          : (x >= c->value && x <= c->value2));
      if (!in) in = int_in_set(cfg->policy_id, tag, x);
      return c->op == TGD_OP_IN_RANGE ? in : !in;
    }
  }
  return 0;
}

/* Whether the source or destination address of a sock/skb argument is in
 * the clause's CIDRs (LPM keys: family byte, then the address). */
static __always_inline int addr_match(struct tgd_policy_event *ev, __u32 policy, __u32 tag, __u8 op,
                                      struct tgd_arg_val *v, __u8 field) {
  struct tgd_lpm_key *key = &ev->key;
  __builtin_memset(key->s, 0, TGD_STR_MAX);
  key->policy_id = policy;
  key->tag = tag;
  __u16 family = v->net.family;
  const __u8 *a = field == TGD_FIELD_SADDR ? v->net.saddr : v->net.daddr;
  int found = 0;
  if (family == TGD_AF_INET || family == TGD_AF_INET6) {
    key->s[0] = family == TGD_AF_INET ? 4 : 6;
    __builtin_memcpy(&key->s[1], a, 16);
    key->prefixlen = 64 + 8 + (family == TGD_AF_INET ? 32 : 128);
    found = bpf_map_lookup_elem(&tgd_str_prefix, key) != 0;
  }
  return op == TGD_OP_PREFIX ? found : !found;
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
  if (c->field == TGD_FIELD_SADDR || c->field == TGD_FIELD_DADDR) {
    if (!tgd_arg_is_net(v->type)) return 0;
    return addr_match(ev, cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_STR, i), c->op, v, c->field);
  }
  if (!tgd_arg_is_string(v->type)) return 0;
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
  int in = int_in_set(cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_NS, i), ns_inum((struct task_struct *)bpf_get_current_task(), c->ns));
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

/* matchBinaries as a global function: the verifier checks it once, apart
 * from the selector's other clauses (inline, its branches doubled the
 * verifier's work on the evaluators), and a call costs less than a bpf_loop
 * step. */
__noinline int tgd_bin_match(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, __u32 sel) {
  if (!cfg || !ev) return 0;
  return bin_match(cfg, ev, sel);
}

/* Runs bpf_loop over the first n (at most max) clauses; returns whether all matched. */
#define TGD_CLAUSES_MATCH(n, max, step, cc) \
  ((n) == 0 || (bpf_loop((n) > (max) ? (max) : (n), step, cc, 0), !(cc)->failed))

/* The clauses that look past the current task (lineage.bpf.h): followForks
 * pid sets, matchParentBinaries, matchCapabilityChanges,
 * matchNamespaceChanges. Global functions: the verifier checks each once, on
 * its own, and selectors without these clauses only test their fields. */
__noinline int tgd_lineage_match(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, __u32 sel) {
  TGD_MASK(sel, 7);
  if (!cfg || !ev || sel >= TGD_MAX_SELECTORS) return 0;
  struct tgd_selector *s = &cfg->sel[sel];
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  __u32 tgid = ev->pid;
  if (s->pid_op && (s->flags & TGD_SEL_PIDS_FOLLOW)) {
    int in = tgd_pid_chain_in_set(task, cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_PID, 0),
                                  (s->flags & TGD_SEL_PIDS_NS) != 0);
    if ((s->pid_op == TGD_OP_EQ) != in) return 0;
  }
  if (s->pbin_op) {
    /* matchParentBinaries: as Tetragon, a process without a recorded parent
     * binary passes. */
    struct tgd_exec_path *pexe = bpf_map_lookup_elem(&tgd_parent_paths, &tgid);
    if (pexe && !str_match(ev, cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_PBIN, 0), s->pbin_op, pexe->path,
                           pexe->len))
      return 0;
  }
  if (s->cc_op && !tgd_cap_change_match(task, tgid, s->cc_op, s->cc_type, s->cc_mask, &ev->creds)) return 0;
  if (s->nc_op && !tgd_ns_change_match(task, tgid, s->nc_op, s->nc_mask, &ev->creds)) return 0;
  return 1;
}

/* A selector with change clauses matched: the current values become the
 * exec-time record (a change is reported once). */
__noinline int tgd_lineage_matched(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, __u32 sel) {
  TGD_MASK(sel, 7);
  if (!cfg || !ev || sel >= TGD_MAX_SELECTORS) return 0;
  struct tgd_selector *s = &cfg->sel[sel];
  tgd_refresh_exec_creds((struct task_struct *)bpf_get_current_task(), ev->pid, s->cc_op != 0, s->nc_op != 0,
                         &ev->creds);
  return 0;
}

/* One matchCapabilities clause over the task's effective, inheritable and
 * permitted sets: In = any of `mask` held, NotIn = none. */
static __always_inline int cap_clause_matches(__u64 *sets, __u8 op, __u8 type, __u64 mask) {
  __u64 caps = type == 1 ? sets[1] : type == 2 ? sets[2] : sets[0];
  return (op == TGD_OP_EQ) == ((caps & mask) != 0);
}

/* matchCapabilities: every clause of selector `sel` (ANDed). A global
 * function of its own: the three capability sets it reads stay off the
 * stack of tgd_selector_matches, whose frame is part of the deepest call
 * chain (the verifier's 512-byte limit counts every frame of it). */
__noinline int tgd_caps_match(struct tgd_policy_cfg *cfg, __u32 sel) {
  TGD_MASK(sel, 7);
  if (!cfg || sel >= TGD_MAX_SELECTORS) return 0;
  struct tgd_selector *s = &cfg->sel[sel];
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  const struct cred *cred = BPF_CORE_READ(task, cred);
  __u64 sets[3] = {BPF_CORE_READ(cred, cap_effective.val), BPF_CORE_READ(cred, cap_inheritable.val),
                   BPF_CORE_READ(cred, cap_permitted.val)};
  if (!cap_clause_matches(sets, s->cap_op, s->cap_type, s->cap_mask)) return 0;
  for (__u32 i = 0; i < TGD_MAX_CAP_CLAUSES - 1; i++) {
    struct tgd_cap_clause *c = &s->more_caps[i];
    if (c->op && !cap_clause_matches(sets, c->op, c->type, c->mask)) return 0;
  }
  return 1;
}

/* Whether selector `sel` of the policy matches the event. A global function
 * (verified once): a one-selector policy calls it directly, the others
 * through a bpf_loop step each. The current task is read only by the
 * clauses that need it. */
__noinline int tgd_selector_matches(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, __u32 sel) {
  TGD_MASK(sel, 7);
  if (!cfg || !ev || sel >= TGD_MAX_SELECTORS) return 0;
  struct tgd_selector *s = &cfg->sel[sel];

  if (s->pid_op && !(s->flags & TGD_SEL_PIDS_FOLLOW)) { /* followForks: tgd_lineage_match */
    __u32 pid = ev->pid;
    if (s->flags & TGD_SEL_PIDS_NS) {
      struct task_struct *task = (struct task_struct *)bpf_get_current_task();
      unsigned int level = BPF_CORE_READ(task, group_leader, thread_pid, level);
      pid = BPF_CORE_READ(task, group_leader, thread_pid, numbers[level & 31].nr);
    }
    int in = int_in_set(cfg->policy_id, TGD_TAG(cfg->gen, sel, TGD_TAG_PID, 0), pid);
    if ((s->pid_op == TGD_OP_EQ) != in) return 0;
  }
  if (s->cap_op && !tgd_caps_match(cfg, sel)) return 0;
  if (s->bin_op && !tgd_bin_match(cfg, ev, sel)) return 0;
  if ((s->flags & TGD_SEL_LINEAGE) && !tgd_lineage_match(cfg, ev, sel)) return 0;
  struct clause_ctx cc = {.cfg = cfg, .ev = ev, .sel = sel};
  if (!TGD_CLAUSES_MATCH(s->n_ns, TGD_MAX_NS_CLAUSES, ns_clause_step, &cc)) return 0;
  if (!TGD_CLAUSES_MATCH(s->n_int, TGD_MAX_INT_CLAUSES, int_clause_step, &cc)) return 0;
  if (!TGD_CLAUSES_MATCH(s->n_str, TGD_MAX_STR_CLAUSES, str_clause_step, &cc)) return 0;
  if (s->flags & TGD_SEL_CHANGES) tgd_lineage_matched(cfg, ev, sel);
  return 1;
}

static long eval_selector(__u32 sel, void *data) {
  struct sel_ctx *sc = data;
  if (sc->skip & (1u << (sel & 7))) return 0; /* matchWorkloads: not this cgroup's */
  if (!tgd_selector_matches(sc->cfg, sc->ev, sel)) return 0;
  sc->matched = sel;
  return 1;
}

/* The index of the policy's first matching selector for this event,
 * TGD_MAX_SELECTORS when it has none (every event matches, action Post), or
 * -1. `skip`: the selectors the run list says do not apply to this cgroup
 * (matchWorkloads, struct tgd_run_list). */
static __always_inline int match_selectors(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, __u32 skip) {
  if (!cfg || !ev) return -1;
  __u32 n = cfg->n_selectors;
  if (n == 0) return TGD_MAX_SELECTORS;
  if (n == 1) return !(skip & 1) && tgd_selector_matches(cfg, ev, 0) ? 0 : -1;
  /* Only the policy's selectors: an unused (zeroed) slot would match. */
  struct sel_ctx sc = {.cfg = cfg, .ev = ev, .matched = -1, .skip = skip};
  bpf_loop(n > TGD_MAX_SELECTORS ? TGD_MAX_SELECTORS : n, eval_selector, &sc, 0);
  if (sc.matched < 0 || sc.matched >= (int)n) return -1;
  return sc.matched;
}

#endif /* TGDISPATCH_BPF_DISPATCH_SELECTORS_BPF_H_ */
