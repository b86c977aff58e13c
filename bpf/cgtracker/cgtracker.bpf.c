// Cgroup tracker: keeps tg_cgtracker_map (cgroup id -> tracked container
// cgroup id) current as cgroups come and go. User space inserts a container's
// own cgroup (mapping to itself) and its existing descendants; this program
// adds every cgroup created below a tracked one (raw_tp/cgroup_mkdir) and
// drops released ones (raw_tp/cgroup_release), so a process in a container's
// sub-cgroup counts as the container, as in Tetragon's cgroup tracker.
// Only cgroups of the default (v2) hierarchy are followed: on hybrid hosts
// the v1 hierarchies fire the same tracepoints, and their ids come from
// kernfs roots of their own, so a v1 id can equal a tracked v2 id.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "compat/policyfilter/policy_filter_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline __u64 cgroup_id_of(struct cgroup *cgrp) {
  return BPF_CORE_READ(cgrp, kn, id);
}

/* The parent's id: through cgroup->ancestors[] (kernels >= 5.x keep the
 * whole chain there, the cgroup itself at [level]) or, where that field does
 * not exist, through the parent css. */
static __always_inline __u64 parent_cgroup_id(struct cgroup *cgrp) {
  int level = BPF_CORE_READ(cgrp, level);
  if (level <= 0) return 0;
  if (bpf_core_field_exists(cgrp->ancestors)) {
    struct cgroup *parent = NULL;
    bpf_core_read(&parent, sizeof(parent), &cgrp->ancestors[level - 1]);
    if (!parent) return 0;
    return cgroup_id_of(parent);
  }
  struct cgroup_subsys_state *css = BPF_CORE_READ(cgrp, self.parent);
  if (!css) return 0;
  /* `self` is the css embedded in struct cgroup. */
  struct cgroup *parent =
      (struct cgroup *)((char *)css - bpf_core_field_offset(struct cgroup, self));
  return cgroup_id_of(parent);
}

/* Whether `cgrp` is on the default (cgroup v2) hierarchy: its cgroup_root is
 * cgrp_dfl_root, the first hierarchy the kernel sets up, whose hierarchy_id
 * is 0 (v1 hierarchies get 1 and up; /proc/<pid>/cgroup shows the same ids,
 * "0::/path" being the v2 line). struct cgroup_root::hierarchy_id is an int
 * in this kernel's BTF (bpf/vmlinux/vmlinux.h); read through CO-RE. */
static __always_inline int on_default_hierarchy(struct cgroup *cgrp) {
  return BPF_CORE_READ(cgrp, root, hierarchy_id) == 0;
}

/* TP_PROTO(struct cgroup *cgrp, const char *path) */
SEC("raw_tp/cgroup_mkdir")
int tgd_cgtracker_mkdir(struct bpf_raw_tracepoint_args *ctx) {
  struct cgroup *cgrp = (struct cgroup *)ctx->args[0];
  if (!on_default_hierarchy(cgrp)) return 0;
  __u64 id = cgroup_id_of(cgrp);
  if (!id) return 0;
  __u64 parent = parent_cgroup_id(cgrp);
  if (!parent) return 0;
  __u64 *tracker = bpf_map_lookup_elem(&tg_cgtracker_map, &parent);
  if (tracker) {
    __u64 value = *tracker;
    bpf_map_update_elem(&tg_cgtracker_map, &id, &value, BPF_ANY);
  }
  return 0;
}

/* TP_PROTO(struct cgroup *cgrp, const char *path) */
SEC("raw_tp/cgroup_release")
int tgd_cgtracker_release(struct bpf_raw_tracepoint_args *ctx) {
  struct cgroup *cgrp = (struct cgroup *)ctx->args[0];
  if (!on_default_hierarchy(cgrp)) return 0; /* a v1 id: not a key of ours */
  __u64 id = cgroup_id_of(cgrp);
  if (id) bpf_map_delete_elem(&tg_cgtracker_map, &id);
  return 0;
}
