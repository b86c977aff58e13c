// matchCapabilities, matchCapabilityChanges and matchNamespaceChanges of one
// selector, compiled into its tgd_selector (cap_*, more_caps, cc_* and nc_*
// fields). The datapath compares the
// task's current capabilities / namespaces with those recorded at its exec
// (bpf/dispatch/lineage.bpf.h), with Tetragon's semantics. Pure: no kernel
// access except through the host namespace reader.
#ifndef TGDISPATCH_SENSOR_LOADER_CHANGE_SELECTORS_H_
#define TGDISPATCH_SENSOR_LOADER_CHANGE_SELECTORS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bpf/dispatch/dispatch_abi.h"
#include "compat/policy/policy.h"

namespace tgd {

// Adds an ANDed "User NotIn [host user namespace]" clause to `sel` (how
// isNamespaceCapability is loaded): fills the ns clause and returns the
// value to store under its tag through `host_inum`. Errors: UNIMPLEMENTED
// when the selector's namespace clauses are all used, the host reader's
// error naming `path`.
absl::Status AddNotHostUserNsClause(const std::string& path,
                                    const std::function<absl::StatusOr<uint64_t>(const std::string&)>& host_ns,
                                    tgd_selector* sel, int* clause, uint64_t* host_inum);

// Compiles s.match_capabilities (up to TGD_MAX_CAP_CLAUSES, ANDed: a
// selector's filters all match, as Tetragon documents, where its datapath
// reads only the first entry), then CompileChangeSelectors. Errors:
// INVALID_ARGUMENT naming the field (operator, values), UNIMPLEMENTED past
// TGD_MAX_CAP_CLAUSES, and those of CompileChangeSelectors.
absl::Status CompileCapabilitySelectors(const policy::Selector& s,
                                        const std::function<absl::StatusOr<uint64_t>(const std::string&)>& host_ns,
                                        tgd_selector* sel, std::vector<std::pair<int, uint64_t>>* ns_values);

// Compiles s.match_capability_changes and s.match_namespace_changes into
// `sel`. `ns_values` receives (clause index, host user ns inode) when
// isNamespaceCapability adds a namespace clause. Errors: INVALID_ARGUMENT
// naming the field (operator, type, values), UNIMPLEMENTED for more than one
// entry of either.
absl::Status CompileChangeSelectors(const policy::Selector& s,
                                    const std::function<absl::StatusOr<uint64_t>(const std::string&)>& host_ns,
                                    tgd_selector* sel, std::vector<std::pair<int, uint64_t>>* ns_values);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_CHANGE_SELECTORS_H_
