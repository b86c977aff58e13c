// Test probe: declares the policy filter maps exactly as BPF readers do (the
// BTF layout check opens this object) and, on raw_tp/sys_enter of one target
// process, records what a dispatcher would see: the current cgroup id, its
// tracked container cgroup id, and whether `want_policy` is in that cgroup's
// row of policy_filter_cgroup_maps and the cgroup in the policy's column.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "compat/policyfilter/policy_filter_maps.bpf.h"
#include "sensor/policyfilter/testdata/pf_probe.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
const volatile __u32 want_policy = 0;


struct pf_probe_result result = {};

SEC("raw_tp/sys_enter")
int pf_probe_sys_enter(void *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != target_tgid) return 0;
  __u64 cg = bpf_get_current_cgroup_id();
  __u64 tracked = cg;
  __u64 *t = bpf_map_lookup_elem(&tg_cgtracker_map, &cg);
  if (t) tracked = *t;
  __u32 pol = want_policy;
  __u32 in_row = 0, in_col = 0;
  void *row = bpf_map_lookup_elem(&policy_filter_cgroup_maps, &tracked);
  if (row && bpf_map_lookup_elem(row, &pol)) in_row = 1;
  void *col = bpf_map_lookup_elem(&policy_filter_maps, &pol);
  if (col && bpf_map_lookup_elem(col, &tracked)) in_col = 1;
  result.cgroup_id = cg;
  result.tracked_id = tracked;
  result.in_cgroup_row = in_row;
  result.in_policy_column = in_col;
  __sync_fetch_and_add(&result.hits, 1);
  return 0;
}
