/* What pf_probe.bpf.c records; shared with the root test. */
#ifndef TGDISPATCH_SENSOR_POLICYFILTER_TESTDATA_PF_PROBE_H_
#define TGDISPATCH_SENSOR_POLICYFILTER_TESTDATA_PF_PROBE_H_

#ifndef __bpf__
#include <linux/types.h>
#endif

struct pf_probe_result {
  __u64 hits;
  __u64 cgroup_id;
  __u64 tracked_id;
  __u32 in_cgroup_row;
  __u32 in_policy_column;
};

#endif
