/* Actions of the matching selector (Post, NoPost, Sigkill, Signal,
 * Override, monitor mode) and rate-limited Posts. Part of eval.bpf.h. */
#ifndef TGDISPATCH_BPF_DISPATCH_ACTIONS_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_ACTIONS_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/dispatch/eval_maps.bpf.h"
#include "bpf/dispatch/hook.bpf.h"

/* Runs the matching selector's actions, one bpf_loop step each (checked
 * once by the verifier, not unrolled). */
struct actions_ctx {
  struct tgd_policy_cfg *cfg;
  struct tgd_policy_event *ev;
  struct tgd_hook_stats *st;
  struct tgd_policy_counters *pc; /* the policy's counters (0: none) */
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
  /* The event's action is the last one that ran, as Tetragon's (an
   * UntrackSock of a sock that was not tracked does not count). */
  int ran = 1;
  if (a->kind == TGD_ACT_POST) {
    if (a->rate_limit_ms && !ac->rate_action) ac->rate_action = i + 1;
    /* Captured when the event is posted (post_event): only then is the
     * program's context at hand. */
    if (a->flags & TGD_ACTF_KSTACK) ev->flags |= TGD_EVF_KSTACK;
    if (a->flags & TGD_ACTF_USTACK) ev->flags |= TGD_EVF_USTACK;
  } else if (a->kind == TGD_ACT_NOPOST) {
    ac->post = 0;
  } else if (a->kind == TGD_ACT_TRACKSOCK || a->kind == TGD_ACT_UNTRACKSOCK) {
    __u32 pos = a->sig;
    TGD_MASK(pos, 7);
    if (pos < TGD_MAX_ARGS) {
      struct tgd_arg_val *v = &ev->args[pos];
      if ((v->type == TGD_ARG_SOCK || v->type == TGD_ARG_SOCKET) && v->net.cookie) {
        struct tgd_sock_key k = {.sock = v->net.cookie, .policy_id = cfg->sock_scope};
        if (a->kind == TGD_ACT_UNTRACKSOCK) {
          ran = bpf_map_delete_elem(&tgd_socktrack, &k) == 0;
        } else {
          __u64 pid_tgid = bpf_get_current_pid_tgid();
          struct tgd_sock_owner o = {.pid = pid_tgid >> 32, .tid = (__u32)pid_tgid};
          bpf_map_update_elem(&tgd_socktrack, &k, &o, BPF_ANY);
        }
      }
    }
  } else if (a->kind == TGD_ACT_SIGKILL || a->kind == TGD_ACT_SIGNAL || a->kind == TGD_ACT_OVERRIDE) {
    struct tgd_policy_counters *pc = ac->pc;
    const int override = a->kind == TGD_ACT_OVERRIDE;
    if (cfg->flags & TGD_POLICY_MONITOR) {
      ev->flags |= TGD_EVF_MONITOR;
      if (st) st->monitor_actions++;
      if (pc) __sync_fetch_and_add(override ? &pc->monitor_overrides : &pc->monitor_signals, 1);
    } else if (override) {
      if (ac->verdict == 0) ac->verdict = a->arg_error;
      if (st) st->actions++;
      if (pc) __sync_fetch_and_add(&pc->overrides, 1);
    } else {
      if (bpf_send_signal(a->kind == TGD_ACT_SIGKILL ? 9 : a->sig) != 0) ev->flags |= TGD_EVF_SIGNAL_FAILED;
      if (st) st->actions++;
      if (pc) __sync_fetch_and_add(&pc->signals, 1);
    }
  }
  if (ran) ev->action = a->kind;
  return 0;
}

_Static_assert(TGD_MAX_ACTIONS == 4, "action_step masks its index with 3");

/* Runs the matching selector's actions; returns whether to post. The first
 * denial (Override) of any policy of the event wins: *verdict is set only
 * while it is 0. *rate_action: 1 + index of the Post with rateLimit. */
static __always_inline int run_actions(struct tgd_policy_cfg *cfg, struct tgd_policy_event *ev, int sel,
                                       struct tgd_hook_stats *st, struct tgd_policy_counters *pc,
                                       __s32 *verdict, int *rate_action) {
  ev->action = TGD_ACT_POST;
  if (sel < 0 || sel >= TGD_MAX_SELECTORS) return 1; /* no selectors: Post */
  __u32 n = cfg->sel[sel & 7].n_actions;
  struct actions_ctx ac = {.cfg = cfg, .ev = ev, .st = st, .pc = pc, .sel = sel, .post = 1,
                           .verdict = *verdict};
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

#endif /* TGDISPATCH_BPF_DISPATCH_ACTIONS_BPF_H_ */
