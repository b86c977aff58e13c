// What the loader refuses among the TracingPolicy fields newer than its
// datapath (Tetragon's current schema: fentries, nodeSelector,
// Override's uprobe parameters): each is refused with
// UNIMPLEMENTED naming the field, never silently ignored.
#ifndef TGDISPATCH_SENSOR_LOADER_SCHEMA_REFUSALS_H_
#define TGDISPATCH_SENSOR_LOADER_SCHEMA_REFUSALS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "compat/labels/label_selector.h"
#include "compat/policy/policy.h"

namespace tgd {

// UNIMPLEMENTED "<field path>: <feature> is not supported by tgdispatch yet"
// for the first such field of the hook (selectors excluded), else OK.
absl::Status RefuseNewerHookFields(const policy::Hook& hook);

// The same for one selector's fields (matchData, Override's uprobe parameters).
absl::Status RefuseNewerSelectorFields(const policy::Selector& selector);

// Spec-level: matchWorkloads this loader cannot scope (workload_scope.h);
// nodeSelector with labels or expressions. Without the node's
// labels (`node_labels` null: no --node-labels) UNIMPLEMENTED naming the
// flag; with them, FAILED_PRECONDITION when the selector does not select
// this node (Tetragon's agent does not load such a policy on its node). An
// empty nodeSelector selects every node and loads.
void AppendNewerSpecRefusals(const policy::TracingPolicy& policy, std::vector<absl::Status>* out,
                             const labels::Labels* node_labels = nullptr);

// Parses --node-labels: "key=value,key2=value2" (keys non-empty, values may
// be empty, no key twice). Errors: INVALID_ARGUMENT naming the flag and the
// entry.
absl::StatusOr<labels::Labels> ParseNodeLabels(absl::string_view flag);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_SCHEMA_REFUSALS_H_
