/* The policy evaluation shared by the dispatcher's policy programs
 * (dispatch.bpf.c) and the per-policy comparison loader (per_policy.bpf.c):
 * the shared maps (eval_maps.bpf.h), per-hook lookups (hook.bpf.h), argument
 * reading (args.bpf.h), selectors (selectors.bpf.h), actions
 * (actions.bpf.h), and here the decision, event posting and the per-hook-kind
 * evaluators. Included once per BPF object. */
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

/* In definition order: */
#include "bpf/dispatch/eval_maps.bpf.h"
#include "bpf/dispatch/hook.bpf.h"
#include "bpf/dispatch/selectors.bpf.h"
#include "bpf/dispatch/args.bpf.h"
#include "bpf/dispatch/actions.bpf.h"
#include "bpf/dispatch/data_chunks.bpf.h"

/* An LSM verdict: 0 allows, -errno denies (the first Override wins). */
struct tgd_verdict {
  __s32 verdict;
  __u32 sel_skip; /* in: the run list's selectors that do not apply (matchWorkloads) */
};

/* Decides one evaluation whose arguments are read: finds the matching
 * selector and runs its actions; returns 1 when the event is to be posted
 * (its long buffers' data chunks then already written)
 * (post_event: only posted events touch the ring buffer, evaluations that do
 * not match cost it nothing). A global
 * function: the verifier checks it once, on its own, instead of once per
 * path of every caller (which exceeds its 1M-instruction budget on some
 * kernels). */
__noinline int tgd_decide(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, struct tgd_verdict *v,
                          struct tgd_hook_stats *st) {
  if (!cfg || !ev || !v) return 0;
  int matched = match_selectors(cfg, ev, v->sel_skip);
  if (matched < 0) return 0;
  ev->flags |= ((__u32)matched & TGD_EVF_SEL_MASK) << TGD_EVF_SEL_SHIFT;
  __u32 id = cfg->policy_id;
  struct tgd_policy_counters *pc = bpf_map_lookup_elem(&tgd_policy_counters, &id);
  __s32 verdict = v->verdict;
  int rate_action = 0;
  int post = run_actions(cfg, ev, matched, st, pc, &verdict, &rate_action);
  v->verdict = verdict;
  if (!post) return 0;
  if (rate_action && rate_limited(cfg, ev, matched, rate_action - 1)) {
    if (st) st->rate_limited++;
    return 0;
  }
  /* To be posted: the chunks of buffers longer than the record go to the
   * ring buffer first (here, in a global function, rather than in
   * post_event: a call there multiplies the evaluators' verifier states). */
  ev->data_id = 0;
  if (ev->memo.big_mask & ((1u << ev->n_args) - 1)) tgd_post_data(ev, cfg->max_data_mask);
  return 1;
}

/* Posts a decided event: captures the stacks its Post asked for (the
 * program's context is needed, so not in tgd_decide) and copies it to the
 * ring buffer. LSM programs never ask (the compiler refuses stack traces
 * there, as Tetragon), so they never call bpf_get_stackid. */
static __always_inline int post_event(void *ctx, struct tgd_policy_event *ev, int kind,
                                      struct tgd_hook_stats *st) {
  ev->kernel_stack_id = -1;
  ev->user_stack_id = -1;
  if (kind != TGD_HOOK_LSM) {
    if (ev->flags & TGD_EVF_KSTACK) ev->kernel_stack_id = bpf_get_stackid(ctx, &tgd_stacks, 0);
    if (ev->flags & TGD_EVF_USTACK) ev->user_stack_id = bpf_get_stackid(ctx, &tgd_stacks, BPF_F_USER_STACK);
  }
  __u32 id = ev->policy_id;
  struct tgd_policy_counters *pc = bpf_map_lookup_elem(&tgd_policy_counters, &id);
  if (!ev->ktime) ev->ktime = bpf_ktime_get_ns();
  if (bpf_ringbuf_output(&tgd_events, ev, TGD_EVENT_WIRE_SIZE, 0) == 0) {
    if (st) st->posted++;
    if (pc) __sync_fetch_and_add(&pc->posted, 1);
    return 1;
  }
  if (st) st->lost++;
  if (pc) __sync_fetch_and_add(&pc->lost, 1);
  return 0;
}

/* A sock argument this policy tracks (TrackSock) makes the event its
 * owner's, for the selectors and the report alike (as Tetragon at read time).
 * The key is the policy's tgd_policy_cfg.sock_scope (every hook of the
 * TracingPolicy), copied into the memo when the evaluation starts: a config
 * read here, after the argument readers, doubled the verifier's work on the
 * evaluator. */
static __always_inline void sock_owner(struct tgd_policy_event *ev) {
  for (__u32 a = 0; a < TGD_MAX_ARGS; a++) {
    struct tgd_arg_val *v = &ev->args[a];
    if ((v->type != TGD_ARG_SOCK && v->type != TGD_ARG_SOCKET) || !v->net.cookie) continue;
    struct tgd_sock_key k = {.sock = v->net.cookie, .policy_id = ev->memo.sock_scope};
    struct tgd_sock_owner *o = bpf_map_lookup_elem(&tgd_socktrack, &k);
    if (o) {
      ev->pid = o->pid;
      ev->tid = o->tid;
      ev->memo.pid_swapped = 1;
    }
  }
}

struct eval_ctx {
  void *ctx;
  struct tgd_run_list *list;
  struct tgd_hook_stats *st;
  struct tgd_scratch *slot; /* the event's scratch slot, claimed by its first evaluation */
  __u64 cgid;
  __s32 verdict; /* LSM: 0 allows, -errno denies (Override) */
  __u32 ret_depth; /* return probes: 1 + depth of this return's frame (0: none) */
  struct tgd_gates gates; /* the event's gates (dispatch_abi.h "Gates") */
  __u32 flags;  /* the hook's TGD_HOOKF_* */
  int is_pod;   /* the cgroup is a tracked (pod container) one */
};

/* Return probes (retprobe.bpf.h), as global functions: the verifier checks
 * each once, not once per path of the evaluators. */

/* Before the arguments are read. Entry side: the event takes its call's
 * frame ktime (user space pairs on it). Return side: evaluated only when
 * this policy's entry is recorded in the popped frame. Returns 0 to skip. */
__noinline int tgd_ret_begin(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, __u32 ret_depth) {
  if (!cfg || !ev) return 0;
  __u8 rf = cfg->ret_flags;
  if (!rf) return 1;
  struct tgd_ret_frame *f;
  if (rf & TGD_RETF_RETURN) {
    if (ret_depth == 0) return 0;
    struct tgd_ret_key k = {.tid = ret_current_tid(), .depth = ret_depth - 1};
    f = bpf_map_lookup_elem(&tgd_ret_frames, &k);
    if (!f || !ret_find(f, cfg->pair_id)) return 0;
    ev->flags |= TGD_EVF_RETURN;
  } else {
    f = ret_top_frame();
    ev->flags |= TGD_EVF_RET_ENTRY;
  }
  if (f) ev->ktime = f->ktime;
  return 1;
}

/* Return side, returnArgAction TrackSock/UntrackSock: the returned sock
 * (args[0]) is tracked as the current task's, or untracked, before the
 * return's selectors run and whatever they decide (as Tetragon's return
 * probe); only for calls whose entry event was posted (tgd_ret_begin). Part
 * of tgd_ret_copy: no new instruction in the evaluator's paths. */
static __always_inline void ret_sock(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev) {
  __u8 rf = cfg->ret_flags;
  if (!(rf & TGD_RETF_RETURN) || !(rf & (TGD_RETF_TRACKSOCK | TGD_RETF_UNTRACKSOCK))) return;
  struct tgd_arg_val *v = &ev->args[0];
  if ((v->type != TGD_ARG_SOCK && v->type != TGD_ARG_SOCKET) || !v->net.cookie) return;
  struct tgd_sock_key k = {.sock = v->net.cookie, .policy_id = cfg->sock_scope};
  if (rf & TGD_RETF_UNTRACKSOCK) {
    bpf_map_delete_elem(&tgd_socktrack, &k);
  } else {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    struct tgd_sock_owner o = {.pid = pid_tgid >> 32, .tid = (__u32)pid_tgid};
    bpf_map_update_elem(&tgd_socktrack, &k, &o, BPF_ANY);
  }
}

/* After the arguments were read, return side: returnArgAction (ret_sock),
 * then the returnCopy argument from the pointer kept at entry (char_buf: as
 * many bytes as the function returned; char_iovec: the count kept at
 * entry). */
__noinline int tgd_ret_copy(struct pt_regs *ctx, struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev,
                            __u32 ret_depth) {
  if (!cfg || !ev) return 0;
  if (ret_depth != 0) ret_sock(cfg, ev);
  if (!(cfg->ret_flags & TGD_RETF_RETURN) || !cfg->ret_copy || ret_depth == 0) return 0;
  struct tgd_ret_key k = {.tid = ret_current_tid(), .depth = ret_depth - 1};
  struct tgd_ret_frame *f = bpf_map_lookup_elem(&tgd_ret_frames, &k);
  struct tgd_ret_saved *saved = ret_find(f, cfg->pair_id);
  if (!saved) return 0;
  __u32 pos = cfg->ret_copy - 1;
  TGD_MASK(pos, 7);
  if (pos >= TGD_MAX_ARGS) return 0;
  struct tgd_arg_desc *d = &cfg->args[pos];
  __u32 type = d->type;
  struct tgd_raw_src rs = {.raw = saved->ptr};
  if (type == TGD_ARG_IOVEC) {
    /* At most as many bytes as the function returned (as Tetragon; a
     * negative or 0 return caps nothing). */
    __s64 rc = PT_REGS_RC(ctx);
    __u32 cap = rc <= 0 ? 0 : rc > 0x7fffffff ? 0x7fffffff : (__u32)rc;
    rs.size_raw = saved->cnt;
    rs.aux = (d->is_signed & 1) | (cap << 1);
  } else {
    rs.size_raw = PT_REGS_RC(ctx);
  }
  tgd_read_object(type, rs.raw, rs.size_raw, rs.aux, &ev->args[pos]);
  tgd_arg_done(ev, pos, &rs);
  /* The position no longer holds what the read-once memo says it holds. */
  ev->memo.have_mask &= ~(1u << pos);
  ev->memo.typed_mask |= 1u << pos;
  return 0;
}

/* After a posted entry event: the policy is recorded in its call's frame,
 * with the pointer (and count) its returnCopy argument needs at return. */
__noinline int tgd_ret_record(struct pt_regs *ctx, struct tgd_policy_cfg *cfg) {
  if (!cfg || !(cfg->ret_flags & TGD_RETF_ENTRY)) return 0;
  struct tgd_ret_frame *f = ret_top_frame();
  if (!f) return 0;
  __u64 ptr = 0, cnt = 0;
  __u32 pos = cfg->ret_copy - 1;
  TGD_MASK(pos, 7);
  if (cfg->ret_copy && pos < TGD_MAX_ARGS) {
    struct tgd_arg_desc *d = &cfg->args[pos];
    ptr = read_slot(ctx, TGD_HOOK_KPROBE, d->src, d->index, 8);
    if (d->type == TGD_ARG_IOVEC) cnt = read_slot(ctx, TGD_HOOK_KPROBE, d->src, d->size_loc, d->size);
  }
  ret_record(f, cfg->policy_id, ptr, cnt);
  return 0;
}

/* Claims a scratch slot of this CPU for the event (a preempted evaluation
 * keeps its own) and fills what every policy of the event shares: the
 * header and an empty memo (dispatch_abi.h tgd_eval_memo). */
static __always_inline struct tgd_scratch *claim_scratch(struct eval_ctx *ec) {
  struct tgd_scratch *slot = 0;
  for (__u32 i = 0; i < TGD_SCRATCH_SLOTS; i++) {
    __u32 k = i;
    struct tgd_scratch *s = bpf_map_lookup_elem(&tgd_scratch, &k);
    if (s && __sync_val_compare_and_swap(&s->busy, 0, 1) == 0) {
      slot = s;
      break;
    }
  }
  if (!slot) return 0;
  struct tgd_policy_event *ev = &slot->ev;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  ev->op = TGD_EV_POLICY;
  ev->hook_id = tgd_hook_id;
  ev->pid = pid_tgid >> 32;
  ev->tid = (__u32)pid_tgid;
  ev->ktime = 0; /* read when the event is first posted: most evaluations post nothing */
  ev->cgroup_id = ec->cgid;
  for (__u32 a = 0; a < TGD_MAX_ARGS; a++) ev->args[a].type = 0;
  ev->memo.have_mask = 0;
  ev->memo.typed_mask = 0;
  ev->memo.exe_state = TGD_EXE_UNKNOWN;
  ev->memo.pid_swapped = 0;
  ev->memo.big_mask = 0;
  return slot;
}

/* Releases the event's scratch slot, if it claimed one. */
static __always_inline void release_scratch(struct eval_ctx *ec) {
  if (ec->slot) ec->slot->busy = 0;
  ec->slot = 0;
}

/* Evaluates the policy of config `cfg` (may be 0) for this event in the
 * event's scratch slot: reads the arguments no earlier policy of the event
 * read, runs its selectors (but those in `sel_skip`: matchWorkloads), acts
 * and posts or discards. */
static __always_inline void eval_one(struct eval_ctx *ec, struct tgd_policy_cfg *cfg, __u32 sel_skip, int kind) {
  if (!cfg || !(cfg->flags & TGD_POLICY_ENABLED)) return;
  __u32 id = cfg->policy_id;
  struct tgd_hook_stats *st = ec->st;
  if (st) st->evaluated++;
  if (!ec->slot) ec->slot = claim_scratch(ec);
  struct tgd_scratch *slot = ec->slot;
  if (!slot) {
    if (st) st->scratch_busy++;
    return;
  }
  struct tgd_policy_event *ev = &slot->ev;
  ev->policy_id = id;
  ev->memo.sock_scope = cfg->sock_scope;
  ev->action = 0;
  ev->flags = 0;
  if (kind == TGD_HOOK_KPROBE && !tgd_ret_begin(cfg, ev, ec->ret_depth)) return;
  __u32 n_args = cfg->n_args;
  if (n_args > TGD_MAX_ARGS) n_args = TGD_MAX_ARGS;
  ev->n_args = n_args;
  /* An earlier policy of the event made it a tracked socket's owner's:
   * this one starts from the current task again. */
  if (ev->memo.pid_swapped) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    ev->pid = pid_tgid >> 32;
    ev->tid = (__u32)pid_tgid;
    ev->memo.pid_swapped = 0;
  }
  /* One step per position: the policy's arguments are read (or kept),
   * the positions past them carry nothing (rate keys and the decoder look
   * at the type). */
  if (n_args || ev->memo.typed_mask) {
    struct args_ctx ac = {.ctx = ec->ctx, .cfg = cfg, .ev = ev, .n = n_args};
    bpf_loop(TGD_MAX_ARGS, ARG_READER(kind), &ac, 0);
  }
  if (kind == TGD_HOOK_KPROBE) tgd_ret_copy(ec->ctx, cfg, ev, ec->ret_depth);
  sock_owner(ev);
  struct tgd_verdict v = {.verdict = ec->verdict, .sel_skip = sel_skip};
  int posted = tgd_decide(cfg, ev, &v, st) && post_event(ec->ctx, ev, kind, st);
  ec->verdict = v.verdict;
  if (kind == TGD_HOOK_KPROBE && posted) tgd_ret_record(ec->ctx, cfg);
}

static __always_inline long eval_policy(__u32 i, struct eval_ctx *ec, int kind) {
  struct tgd_run_list *l = ec->list;
  if (!l) return 1;
  __u32 n = l->n;
  if (i >= n || i >= TGD_RUN_MAX) return 1;
  TGD_MASK(i, 63);
  __u32 gate = l->gate[i];
  if (gate && !(ec->gates.open & (1u << (gate & 31)))) { /* cannot match: decided by the gate */
    struct tgd_hook_stats *st = ec->st;
    if (st) {
      st->evaluated++;
      st->gated++;
    }
    return 0;
  }
  eval_one(ec, policy_cfg_at(l->policy[i]), l->sel_skip[i], kind);
  return 0;
}

/* An LSM verdict the verifier accepts: 0 or a negative errno. */
static __always_inline int tgd_verdict(__s32 v) {
  if (v < -4095 || v > 0) return 0;
  return v;
}

/* The event's cgroup, hook flags, gates and (hook, cgroup) run list, into
 * ec: from the dispatcher's hand-off when it is stamped with this task and
 * hook (the usual case: the evaluator runs right after its dispatcher's
 * tail call), otherwise looked up again. (In ec rather than in a struct of
 * their own: the evaluator's stack frame is on every call chain of the
 * evaluation, which the verifier bounds at 512 bytes.) */
static __always_inline struct tgd_run_list *eval_start(struct eval_ctx *ec) {
  __u32 zero = 0;
  struct tgd_handoff *h = bpf_map_lookup_elem(&tgd_handoff, &zero);
  if (h && h->pid_tgid == bpf_get_current_pid_tgid() && h->hook_id == tgd_hook_id) {
    ec->cgid = h->cgid;
    ec->flags = h->flags;
    ec->is_pod = h->is_pod;
    ec->gates = h->gates;
    if (!h->has_ref) return 0;
    struct tgd_run_list *l = run_list_at(h->run_ref, ec->cgid);
    return l ? l : run_list(ec->cgid); /* replaced meanwhile: the current one */
  }
  ec->cgid = current_cgroup(&ec->is_pod);
  ec->flags = hook_flags();
  return run_list(ec->cgid);
}

/* Evaluates run list `l` (may be 0) with step `step`: when every policy of
 * the list is gated and no gate is open, the gates decide for all of them
 * at once (no bpf_loop); otherwise each policy is evaluated unless its gate
 * is closed. Counts an event whose list was cut at TGD_RUN_MAX. */
#define TGD_RUN_LIST(ec, l, step)                                            \
  do {                                                                       \
    struct tgd_run_list *l_ = (l);                                           \
    if (!l_) break;                                                          \
    if (gates_decide(&(ec)->gates, l_)) {                                    \
      count_gated((ec)->st, l_);                                             \
      break;                                                                 \
    }                                                                        \
    if ((ec)->st && (l_->flags & TGD_RUNF_TRUNCATED)) (ec)->st->truncated_lists++; \
    (ec)->list = l_;                                                         \
    bpf_loop(TGD_RUN_MAX, step, (ec), 0);                                    \
  } while (0)

#define DEFINE_EVALUATOR(suffix, kind)                                                    \
  static long eval_policy_##suffix(__u32 i, void *data) { return eval_policy(i, data, kind); } \
  static __always_inline int evaluate_##suffix(void *ctx) {                              \
    struct eval_ctx ec = {.ctx = ctx, .st = hook_stats()};                               \
    struct tgd_run_list *cg_list = eval_start(&ec);                                       \
    const __u32 flags = ec.flags;                                                         \
    struct ret_pop rp = {};                                                               \
    const int ret_side = kind == TGD_HOOK_KPROBE && (flags & TGD_HOOKF_RET_RETURN);       \
    if (ret_side) ec.ret_depth = ret_pop_begin(&rp, flags >> TGD_HOOKF_PAIR_SHIFT);       \
    if (flags & TGD_HOOKF_UNFILTERED) TGD_RUN_LIST(&ec, run_list(0), eval_policy_##suffix); \
    TGD_RUN_LIST(&ec, cg_list, eval_policy_##suffix);                                     \
    if (!ec.is_pod && (flags & TGD_HOOKF_HOST))                                           \
      TGD_RUN_LIST(&ec, run_list(POLICY_FILTER_HOST_CGROUP_KEY), eval_policy_##suffix);   \
    release_scratch(&ec);                                                                 \
    if (ret_side) ret_pop_end(&rp);                                                       \
    return tgd_verdict(ec.verdict);                                                       \
  }

DEFINE_EVALUATOR(tp, TGD_HOOK_TRACEPOINT)
DEFINE_EVALUATOR(rawtp, TGD_HOOK_RAW_TP)
DEFINE_EVALUATOR(kprobe, TGD_HOOK_KPROBE)
DEFINE_EVALUATOR(lsm, TGD_HOOK_LSM)

#endif /* TGDISPATCH_BPF_DISPATCH_EVAL_BPF_H_ */
