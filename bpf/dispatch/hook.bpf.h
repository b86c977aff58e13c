/* Per-hook lookups of the dispatch datapath: the index macros the verifier
 * sees, the hook's statistics and flags, the current cgroup (through the
 * cgroup tracker) and the (hook, cgroup) run lists. Part of eval.bpf.h. */
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

#endif /* TGDISPATCH_BPF_DISPATCH_HOOK_BPF_H_ */
