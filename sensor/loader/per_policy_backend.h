// PerPolicyBackend: the per-policy comparison loader (--loader=per-policy).
#ifndef TGDISPATCH_SENSOR_LOADER_PER_POLICY_BACKEND_H_
#define TGDISPATCH_SENSOR_LOADER_PER_POLICY_BACKEND_H_

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "sensor/loader/dispatch_backend.h"

namespace tgd {

// The per-policy comparison loader (--loader=per-policy): Tetragon's shape,
// one program attached per (policy, hook), each checking its own cgroup set,
// with per-policy maps sized as Tetragon sizes a policy's. Same evaluation
// code and events as the dispatch loader; exists so benchmarks can compare
// the two designs on one kernel in one run.
class PerPolicyBackend {
 public:
  static absl::StatusOr<std::unique_ptr<DispatchBackend>> Create(DispatchOptions options) {
    options.per_policy = true;
    return DispatchBackend::Create(std::move(options));
  }
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_PER_POLICY_BACKEND_H_
