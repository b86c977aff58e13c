// matchWorkloads as Tetragon reads it (pkg/selectors ParseMatchWorkloads):
// which selectors of a policy are scoped to workloads, and the scoping this
// loader refuses. No kernel, no filter state (selector_workloads.h
// registers the filters).
#ifndef TGDISPATCH_SENSOR_LOADER_WORKLOAD_SCOPE_H_
#define TGDISPATCH_SENSOR_LOADER_WORKLOAD_SCOPE_H_

#include <optional>

#include "absl/status/status.h"
#include "compat/labels/label_selector.h"
#include "compat/policy/policy.h"

namespace tgd {

// A selector's matchWorkloads after Tetragon's defaults: a podSelector
// without containerSelector selects every container of those pods, a
// containerSelector without podSelector those containers in every pod.
// nullopt when it filters nothing (all three absent, or all three {}).
struct WorkloadFilter {
  std::optional<labels::LabelSelector> pod, container, host;
};
std::optional<WorkloadFilter> EffectiveWorkloads(const policy::MatchWorkloads& w);
// Whether the selector has an effective matchWorkloads.
bool SelectorScoped(const policy::Selector& s);
// The selector's matchWorkloads field path, for errors.
std::string WorkloadsPath(const policy::Selector& s);

// In a policy without podSelector, containerSelector, hostSelector or
// namespace, a hook whose selectors are partly scoped is refused
// (UNIMPLEMENTED, naming the first scoped selector's matchWorkloads): the
// unscoped ones would need the policy in every cgroup's run list with a
// per-cgroup selector mask. OK otherwise.
absl::Status CheckSelectorWorkloads(const policy::TracingPolicy& tp);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_WORKLOAD_SCOPE_H_
