// The loaders the bench compares, by mode name: "dispatch" (DispatchBackend)
// and "per-policy" (PerPolicyBackend, Tetragon's one program per policy),
// both behind the PolicyBackend interface and created with the same options.
#ifndef TGDISPATCH_BENCH_DISPATCH_BACKENDS_H_
#define TGDISPATCH_BENCH_DISPATCH_BACKENDS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/policymgr/policy_backend.h"

namespace tgd::bench {

// UNIMPLEMENTED when this build has no backend of that name (the per-policy
// loader before its header is a dependency); INVALID_ARGUMENT for an unknown
// mode; otherwise the backend's Create errors.
absl::StatusOr<std::unique_ptr<PolicyBackend>> CreateBackend(const std::string& mode, DispatchOptions options);

}  // namespace tgd::bench

#endif  // TGDISPATCH_BENCH_DISPATCH_BACKENDS_H_
