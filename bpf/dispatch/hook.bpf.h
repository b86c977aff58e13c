/* Per-hook lookups of the dispatch datapath: the index macros the verifier
 * sees, the hook's statistics and flags, the current cgroup (through the
 * cgroup tracker), the (hook, cgroup) run lists, the gates, and dispatch(),
 * the dispatcher's body. Part of eval.bpf.h. */
#ifndef TGDISPATCH_BPF_DISPATCH_HOOK_BPF_H_
#define TGDISPATCH_BPF_DISPATCH_HOOK_BPF_H_

#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "bpf/dispatch/dispatch_abi.h"
#include "bpf/dispatch/eval_maps.bpf.h"
#include "bpf/dispatch/retprobe.bpf.h"
#include "compat/policyfilter/policy_filter_maps.bpf.h"

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

/* The run list that reference r names for (this hook, cgroup), or 0 when
 * the slot no longer carries it. */
static __always_inline struct tgd_run_list *run_list_at(__u64 r, __u64 cgid) {
  __u32 slot = (__u32)r, seq = (__u32)(r >> 32);
  __u32 chunk = slot >> TGD_RUN_CHUNK_SHIFT;
  void *inner = bpf_map_lookup_elem(&tgd_run_chunks, &chunk);
  if (!inner) return 0;
  __u32 idx = slot & (TGD_RUN_CHUNK - 1);
  struct tgd_run_slot *s = bpf_map_lookup_elem(inner, &idx);
  if (!s) return 0;
  if (s->seq == seq && s->owner.hook_id == tgd_hook_id && s->owner.cgroup_id == cgid) return &s->list;
  return 0;
}

/* The run list of (this hook, cgroup), or 0; as policy_cfg(). */
static __always_inline struct tgd_run_list *run_list(__u64 cgid) {
  struct tgd_run_key k = {.hook_id = tgd_hook_id, .cgroup_id = cgid};
#pragma unroll
  for (int attempt = 0; attempt < 3; attempt++) {
    __u64 *ref = bpf_map_lookup_elem(&tgd_run_lists, &k);
    if (!ref) return 0;
    struct tgd_run_list *l = run_list_at(tgd_read_ref(ref), cgid);
    if (l) return l;
  }
  return 0;
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

/* Whether the hook's union of gate `gate` holds `value`. */
static __always_inline int gate_has(__u32 gate, __u64 value) {
  struct tgd_int_key k = {.policy_id = TGD_GATE_POLICY, .tag = TGD_GATE_TAG(tgd_hook_id, gate), .value = value};
  return bpf_map_lookup_elem(&tgd_int_values, &k) != 0;
}

/* Looks up the event's value of each gate kind in `kinds` not looked up yet
 * (one lookup per kind and event, whatever the number of policies). A
 * global function: its keys are on its own stack frame, not on the
 * evaluator's, which every call chain of the evaluation adds to (the
 * verifier allows 512 bytes in all). */
__noinline int tgd_look_up_gates(struct tgd_gates *g, __u32 kinds) {
  if (!g) return 0;
  __u32 todo = kinds & ~g->known;
  if (!todo) return 0;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (todo & (1u << TGD_GATE_BIN)) {
    struct tgd_exec_path *exe = bpf_map_lookup_elem(&tgd_exec_paths, &tgid);
    /* A binary the tracker does not know is in no In set. */
    if (exe && gate_has(TGD_GATE_BIN, exe->hash)) g->open |= 1u << TGD_GATE_BIN;
  }
  if ((todo & (1u << TGD_GATE_PID)) && gate_has(TGD_GATE_PID, tgid)) g->open |= 1u << TGD_GATE_PID;
  g->known |= todo;
  return 0;
}

/* Whether the gates decide list `l` whole: every policy on it is gated and
 * no gate is open. Looks the list's gates up first. */
static __always_inline int gates_decide(struct tgd_gates *g, struct tgd_run_list *l) {
  __u32 kinds = l->gate_kinds;
  if (kinds & ~g->known) tgd_look_up_gates(g, kinds);
  return !l->ungated && !(g->open & kinds);
}

/* Counts the n policies of a list the gates decided as evaluated. */
static __always_inline void count_gated(struct tgd_hook_stats *st, struct tgd_run_list *l) {
  __u32 n = l->n;
  if (n > TGD_RUN_MAX) n = TGD_RUN_MAX;
  if (st) {
    st->evaluated += n;
    st->gated += n;
    if (l->flags & TGD_RUNF_TRUNCATED) st->truncated_lists++;
  }
}

static __always_inline int dispatch(void *ctx, void *tail_map) {
  int is_pod = 0;
  __u64 cgid = current_cgroup(&is_pod);
  __u32 flags = hook_flags();
  if (flags & TGD_HOOKF_RET_ENTRY) ret_push();
  struct tgd_run_key k = {.hook_id = tgd_hook_id, .cgroup_id = cgid};
  __u64 *ref = bpf_map_lookup_elem(&tgd_run_lists, &k);
  /* A return probe's evaluator pops the task's frame on every return. */
  if (!ref && !(flags & TGD_HOOKF_RET_RETURN) && !(flags & TGD_HOOKF_UNFILTERED) &&
      (is_pod || !(flags & TGD_HOOKF_HOST)))
    return 0;
  struct tgd_hook_stats *st = hook_stats();
  if (st) st->runs++;
  __u64 r = ref ? tgd_read_ref(ref) : 0;
  struct tgd_gates g = {};
  /* Only the cgroup's list applies (the common case for scoped policies):
   * when the gates decide it whole, no policy program runs. */
  if (ref && !(flags & (TGD_HOOKF_RET_RETURN | TGD_HOOKF_UNFILTERED)) && (is_pod || !(flags & TGD_HOOKF_HOST))) {
    struct tgd_run_list *l = run_list_at(r, cgid);
    if (l && gates_decide(&g, l)) {
      count_gated(st, l);
      return 0;
    }
  }
  __u32 zero = 0;
  struct tgd_handoff *h = bpf_map_lookup_elem(&tgd_handoff, &zero);
  if (h) {
    h->pid_tgid = bpf_get_current_pid_tgid();
    h->cgid = cgid;
    h->run_ref = r;
    h->hook_id = tgd_hook_id;
    h->flags = flags;
    h->is_pod = is_pod;
    h->has_ref = ref != 0;
    h->gates = g;
  }
  bpf_tail_call(ctx, tail_map, tgd_hook_id);
  if (st) st->tail_call_fail++;
  return 0;
}

#endif /* TGDISPATCH_BPF_DISPATCH_HOOK_BPF_H_ */
