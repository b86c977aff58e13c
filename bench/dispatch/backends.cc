#include "bench/dispatch/backends.h"

// The per-policy loader joins as soon as its header is a dependency of
// :backends (add "//sensor/loader:per_policy_backend" to its deps in BUILD).
#if __has_include("sensor/loader/per_policy_backend.h")
#include "sensor/loader/per_policy_backend.h"
#define TGD_BENCH_HAVE_PER_POLICY 1
#endif

namespace tgd::bench {

absl::StatusOr<std::unique_ptr<PolicyBackend>> CreateBackend(const std::string& mode, DispatchOptions options) {
  if (mode == "dispatch") {
    absl::StatusOr<std::unique_ptr<DispatchBackend>> b = DispatchBackend::Create(std::move(options));
    if (!b.ok()) return b.status();
    return std::unique_ptr<PolicyBackend>(std::move(*b));
  }
  if (mode == "per-policy") {
#if defined(TGD_BENCH_HAVE_PER_POLICY)
    auto b = PerPolicyBackend::Create(std::move(options));
    if (!b.ok()) return b.status();
    return std::unique_ptr<PolicyBackend>(std::move(*b));
#else
    return absl::UnimplementedError(
        "the per-policy loader (sensor/loader/per_policy_backend.h) is not in this build yet");
#endif
  }
  return absl::InvalidArgumentError("--modes: unknown mode \"" + mode + "\" (dispatch, per-policy)");
}

}  // namespace tgd::bench
