/* Tetragon-compatible policy filter layout, shared by BPF programs and user
 * space. The maps themselves are declared for BPF in policy_filter_maps.bpf.h;
 * user space creates or opens them with exactly these key/value sizes.
 *
 *   policy_filter_maps:        HASH_OF_MAPS  u32 policy id -> HASH u64 cgroup id -> u8
 *   policy_filter_cgroup_maps: HASH_OF_MAPS  u64 cgroup id -> HASH u32 policy id -> u8
 *   tg_cgtracker_map:          HASH          u64 cgroup id -> u64 tracked (container) cgroup id
 */
#ifndef TGDISPATCH_COMPAT_POLICYFILTER_POLICY_FILTER_H_
#define TGDISPATCH_COMPAT_POLICYFILTER_POLICY_FILTER_H_

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Tetragon's sizes: used when opening a Tetragon agent's pinned maps. */
#define TG_POLICY_FILTER_MAX_POLICIES 128       /* outer policy_filter_maps */
#define TG_POLICY_FILTER_MAX_CGROUPS_PER_POLICY 32768 /* inner of policy_filter_maps */
#define TG_POLICY_FILTER_MAX_CGROUP_IDS 1024    /* outer policy_filter_cgroup_maps */
#define TG_POLICY_FILTER_MAX_POLICIES_PER_CGROUP 128 /* inner of policy_filter_cgroup_maps */
#define TG_CGTRACKER_MAX_ENTRIES 16384

/* Reserved policy ids (as upstream). */
#define POLICY_FILTER_ID_UNFILTERED 0 /* policy applies to every cgroup */
#define POLICY_FILTER_ID_ALL_PODS 1   /* policy applies to every pod cgroup */
/* A Tetragon agent's all-pods id: 1 as well (ALL_PODS_POLICY_ID in its
 * bpf/process/policy_filter.h, AllPodsPolicyID in pkg/policyfilter; its
 * tracing policies count from 2). Agents before the hostSelector support have
 * no all-pods entry and count their policies from 1. */
#define TG_POLICY_FILTER_ID_ALL_PODS 1U
/* Inner key of policy_filter_maps marking hostSelector (non-pod) mode. */
#define POLICY_FILTER_HOST_CGROUP_KEY 0xffffffffffffffffULL

typedef __u32 tg_policy_id_t;  /* key of policy_filter_maps, value key of the cgroup inner map */
typedef __u64 tg_cgroup_id_t;  /* key of policy_filter_cgroup_maps and of the policy inner map */
typedef __u8 tg_policy_filter_val_t; /* the inner maps' (empty) value */

#endif /* TGDISPATCH_COMPAT_POLICYFILTER_POLICY_FILTER_H_ */
