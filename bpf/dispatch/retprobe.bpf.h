/* Entry/return pairing of return probes (kretprobes and uretprobes alike;
 * dispatch_abi.h "Entry/return pairing"): the dispatcher of a paired entry
 * hook pushes a frame per call, entry policies record themselves in it, and
 * the return evaluator pops it. Only the calling task touches its frames.
 * Part of eval.bpf.h (included by hook.bpf.h). */
#ifndef TGDISPATCH_BPF_DISPATCH_RETPROBE_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_RETPROBE_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/dispatch/eval_maps.bpf.h"

static __always_inline __u32 ret_current_tid(void) { return (__u32)bpf_get_current_pid_tgid(); }

/* Every call of a paired entry hook: a new frame on the task's stack (not
 * stored beyond TGD_RET_DEPTH, but counted so that returns stay paired). */
static __always_inline void ret_push(void) {
  __u32 tid = ret_current_tid();
  __u32 *dp = bpf_map_lookup_elem(&tgd_ret_depth, &tid);
  __u32 d = dp ? *dp : 0;
  if (d < TGD_RET_DEPTH) {
    struct tgd_ret_key k = {.tid = tid, .depth = d};
    struct tgd_ret_frame f = {};
    f.ktime = bpf_ktime_get_ns();
    f.hook_id = tgd_hook_id;
    bpf_map_update_elem(&tgd_ret_frames, &k, &f, BPF_ANY);
  }
  if (d >= (1u << 20)) return; /* returns that never come: stop counting */
  d++;
  if (dp)
    *dp = d;
  else
    bpf_map_update_elem(&tgd_ret_depth, &tid, &d, BPF_ANY);
}

/* The frame of the current call of this (entry) hook: the top of the
 * task's stack when it is this hook's. 0 when there is none. */
static __always_inline struct tgd_ret_frame *ret_top_frame(void) {
  __u32 tid = ret_current_tid();
  __u32 *dp = bpf_map_lookup_elem(&tgd_ret_depth, &tid);
  if (!dp || *dp == 0 || *dp > TGD_RET_DEPTH) return 0;
  struct tgd_ret_key k = {.tid = tid, .depth = *dp - 1};
  struct tgd_ret_frame *f = bpf_map_lookup_elem(&tgd_ret_frames, &k);
  if (!f || f->hook_id != tgd_hook_id) return 0;
  return f;
}

/* An entry policy whose event was posted: recorded in its call's frame,
 * with what its returnCopy argument needs at return. */
static __always_inline void ret_record(struct tgd_ret_frame *f, __u32 policy_id, __u64 ptr, __u64 cnt) {
  if (!f) return;
  __u32 n = f->n;
  if (n >= TGD_RET_POLICIES) return;
  n &= TGD_RET_POLICIES - 1;
  f->p[n].policy_id = policy_id;
  f->p[n].ptr = ptr;
  f->p[n].cnt = cnt;
  f->n = n + 1;
}

/* The entry recorded for policy `pair` in a popped frame, or 0. */
static __always_inline struct tgd_ret_saved *ret_find(struct tgd_ret_frame *f, __u32 pair) {
  if (!f) return 0;
  __u32 n = f->n;
  for (__u32 i = 0; i < TGD_RET_POLICIES; i++) {
    if (i >= n) break;
    if (f->p[i].policy_id == pair) return &f->p[i];
  }
  return 0;
}

/* Finding this return's frame: frames of other hooks above it (their
 * returns never came) are dropped. */
struct ret_pop {
  __u32 tid;
  __u32 entry_hook;
  __u32 d;     /* the depth left */
  __u32 found; /* the frame at d - 1 is this return's */
};

static long ret_pop_step(__u32 i, void *data) {
  struct ret_pop *p = data;
  if (p->d == 0) return 1;
  if (p->d > TGD_RET_DEPTH) { /* a call beyond the stored depth: no frame */
    p->d--;
    return 1;
  }
  struct tgd_ret_key k = {.tid = p->tid, .depth = p->d - 1};
  struct tgd_ret_frame *f = bpf_map_lookup_elem(&tgd_ret_frames, &k);
  if (f && f->hook_id == p->entry_hook) {
    p->found = 1;
    return 1;
  }
  if (f) bpf_map_delete_elem(&tgd_ret_frames, &k);
  p->d--;
  return 0;
}

/* Every return of a paired hook: 1 + the depth of its call's frame (0:
 * none), left in place until ret_pop_end. */
static __always_inline __u32 ret_pop_begin(struct ret_pop *p, __u32 entry_hook) {
  p->tid = ret_current_tid();
  p->entry_hook = entry_hook;
  p->found = 0;
  __u32 *dp = bpf_map_lookup_elem(&tgd_ret_depth, &p->tid);
  p->d = dp ? *dp : 0;
  if (p->d == 0) return 0;
  bpf_loop(TGD_RET_DEPTH + 1, ret_pop_step, p, 0);
  if (!p->found || p->d == 0) return 0;
  return p->d;
}

static __always_inline void ret_pop_end(struct ret_pop *p) {
  if (p->found && p->d > 0) {
    struct tgd_ret_key k = {.tid = p->tid, .depth = p->d - 1};
    bpf_map_delete_elem(&tgd_ret_frames, &k);
    p->d--;
  }
  if (p->d == 0)
    bpf_map_delete_elem(&tgd_ret_depth, &p->tid);
  else
    bpf_map_update_elem(&tgd_ret_depth, &p->tid, &p->d, BPF_ANY);
}

/* A task exits: its stack goes. */
static __always_inline void ret_forget_task(__u32 tid) {
  __u32 *dp = bpf_map_lookup_elem(&tgd_ret_depth, &tid);
  if (!dp) return;
  for (__u32 i = 0; i < TGD_RET_DEPTH; i++) {
    struct tgd_ret_key k = {.tid = tid, .depth = i};
    bpf_map_delete_elem(&tgd_ret_frames, &k);
  }
  bpf_map_delete_elem(&tgd_ret_depth, &tid);
}

#endif /* TGDISPATCH_BPF_DISPATCH_RETPROBE_BPF_H_ */
