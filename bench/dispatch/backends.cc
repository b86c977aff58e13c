#include "bench/dispatch/backends.h"

#include "sensor/loader/per_policy_backend.h"

namespace tgd::bench {

absl::StatusOr<std::unique_ptr<PolicyBackend>> CreateBackend(const std::string& mode, DispatchOptions options) {
  if (mode == "dispatch") {
    absl::StatusOr<std::unique_ptr<DispatchBackend>> b = DispatchBackend::Create(std::move(options));
    if (!b.ok()) return b.status();
    return std::unique_ptr<PolicyBackend>(std::move(*b));
  }
  if (mode == "per-policy") {
    auto b = PerPolicyBackend::Create(std::move(options));
    if (!b.ok()) return b.status();
    return std::unique_ptr<PolicyBackend>(std::move(*b));
  }
  return absl::InvalidArgumentError("--modes: unknown mode \"" + mode + "\" (dispatch, per-policy)");
}

}  // namespace tgd::bench
