/* BPF-side declarations of the policy filter maps (layout in policy_filter.h).
 * Every BPF object that reads them includes this header once; the loader makes
 * the object reuse the fds of the maps the policy filter state owns (or opened
 * from a Tetragon agent's pins) before load, so all objects share one copy.
 * The max_entries below are templates: user space sizes the real maps. */
#ifndef TGDISPATCH_COMPAT_POLICYFILTER_POLICY_FILTER_MAPS_BPF_H_
#define TGDISPATCH_COMPAT_POLICYFILTER_POLICY_FILTER_MAPS_BPF_H_

#include "compat/policyfilter/policy_filter.h"

/* policy id -> set of cgroup ids the policy applies to. Written by user space. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, TG_POLICY_FILTER_MAX_POLICIES);
  __type(key, tg_policy_id_t);
  __array(values, struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, tg_cgroup_id_t);
    __type(value, tg_policy_filter_val_t);
  });
} policy_filter_maps SEC(".maps");

/* cgroup id -> set of policy ids that apply to it (reverse of the above).
 * Written by user space; read by the dispatcher. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, TG_POLICY_FILTER_MAX_CGROUP_IDS);
  __type(key, tg_cgroup_id_t);
  __array(values, struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, tg_policy_id_t);
    __type(value, tg_policy_filter_val_t);
  });
} policy_filter_cgroup_maps SEC(".maps");

/* cgroup id -> tracked container cgroup id (a container's sub-cgroups count as
 * the container). Written by user space and by the cgroup tracker program. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TG_CGTRACKER_MAX_ENTRIES);
  __type(key, tg_cgroup_id_t);
  __type(value, tg_cgroup_id_t);
} tg_cgtracker_map SEC(".maps");

#endif /* TGDISPATCH_COMPAT_POLICYFILTER_POLICY_FILTER_MAPS_BPF_H_ */
