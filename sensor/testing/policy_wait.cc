// See policy_wait.h.
#include "sensor/testing/policy_wait.h"

#include <chrono>

#include "absl/time/clock.h"

namespace tgd::testing {

bool WaitForPoliciesSettled(tetragon::FineGuidanceSensors::Stub* stub, int want, absl::Duration bound) {
  const absl::Time deadline = absl::Now() + bound;
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    tetragon::ListTracingPoliciesResponse list;
    if (stub->ListTracingPolicies(&ctx, {}, &list).ok() && list.policies_size() == want) {
      bool settled = true;
      for (const auto& p : list.policies()) {
        settled = settled && p.state() != tetragon::TP_STATE_LOADING && p.state() != tetragon::TP_STATE_UNKNOWN;
      }
      if (settled) return true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

}  // namespace tgd::testing
