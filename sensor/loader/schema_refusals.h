// What the loader refuses among the TracingPolicy fields newer than its
// datapath (Tetragon's current schema: fentries, nodeSelector,
// Override's uprobe parameters): each is refused with
// UNIMPLEMENTED naming the field, never silently ignored.
#ifndef TGDISPATCH_SENSOR_LOADER_SCHEMA_REFUSALS_H_
#define TGDISPATCH_SENSOR_LOADER_SCHEMA_REFUSALS_H_

#include <vector>

#include "absl/status/status.h"
#include "compat/policy/policy.h"

namespace tgd {

// UNIMPLEMENTED "<field path>: <feature> is not supported by tgdispatch yet"
// for the first such field of the hook (selectors excluded), else OK.
absl::Status RefuseNewerHookFields(const policy::Hook& hook);

// The same for one selector's fields (matchData, Override's uprobe parameters).
absl::Status RefuseNewerSelectorFields(const policy::Selector& selector);

// Spec-level: nodeSelector with labels or expressions (this sensor does not
// know its node's labels; an empty nodeSelector selects every node and loads);
// matchWorkloads this loader cannot scope (workload_scope.h).
void AppendNewerSpecRefusals(const policy::TracingPolicy& policy, std::vector<absl::Status>* out);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_SCHEMA_REFUSALS_H_
