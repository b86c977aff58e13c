// PolicyBackend: the datapath behind the policy lifecycle. A backend loads a
// policy into the kernel (the "dispatch" loader: one dispatcher per hook; the
// "per-policy" loader: Tetragon's one program per policy) and hands back a
// LoadedPolicy that owns everything it created.
#ifndef TGDISPATCH_SENSOR_POLICYMGR_POLICY_BACKEND_H_
#define TGDISPATCH_SENSOR_POLICYMGR_POLICY_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sensor/policymgr/policy_document.h"

namespace tgd {

enum class PolicyMode { kEnforce, kMonitor };

// A policy's counters, one per field of Tetragon's
// TracingPolicyActionCounters where one exists (the field noted on the right).
struct PolicyCounters {
  uint64_t events = 0;               // events posted (post)
  uint64_t signals = 0;              // Signal/Sigkill signals sent (signal)
  uint64_t monitor_signals = 0;      // signals not sent: monitor mode (monitor_signal)
  uint64_t overrides = 0;            // return values overridden by Override (override)
  uint64_t monitor_overrides = 0;    // overrides not done: monitor mode (monitor_override)
  uint64_t tail_call_overflows = 0;  // runs lost to the per-event tail-call budget
  uint64_t missed = 0;               // events lost (ring buffer full)
};

// A policy loaded into the datapath. Destroying it unloads the policy and
// frees its kernel memory.
class LoadedPolicy {
 public:
  virtual ~LoadedPolicy() = default;
  virtual absl::Status SetEnabled(bool enabled) = 0;
  virtual absl::Status SetMode(PolicyMode mode) = 0;
  virtual uint64_t KernelMemoryBytes() const = 0;
  virtual std::vector<std::string> Sensors() const = 0;
  virtual PolicyCounters Counters() const = 0;
};

class PolicyBackend {
 public:
  virtual ~PolicyBackend() = default;
  virtual std::string Name() const = 0;  // "dispatch" | "per-policy"
  // OK when policies can be loaded; otherwise why they cannot
  // (FAILED_PRECONDITION naming the loader and what is missing).
  virtual absl::Status Availability() const { return absl::OkStatus(); }
  // Loads `policy` scoped by policy-filter id `filter_id` (0 = unscoped).
  // Errors: INVALID_ARGUMENT, UNIMPLEMENTED (a feature this build cannot
  // load), FAILED_PRECONDITION (the kernel lacks a feature), RESOURCE_EXHAUSTED.
  virtual absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const PolicyDocument& policy,
                                                             uint32_t filter_id,
                                                             PolicyMode mode) = 0;
  // As Load, in the given enabled state from the start (a policy brought
  // back disabled after a restart). Default: Load, then SetEnabled(false),
  // so the policy runs enabled for a moment; the dispatch loader writes it
  // disabled at once.
  virtual absl::StatusOr<std::unique_ptr<LoadedPolicy>> LoadInState(const PolicyDocument& policy,
                                                                    uint32_t filter_id, PolicyMode mode,
                                                                    bool enabled) {
    absl::StatusOr<std::unique_ptr<LoadedPolicy>> l = Load(policy, filter_id, mode);
    if (!l.ok() || enabled) return l;
    if (absl::Status st = (*l)->SetEnabled(false); !st.ok()) return st;
    return l;
  }
  // Every policy is about to be unloaded and the backend destroyed (daemon
  // shutdown): stop running policies now, all at once, and let each
  // LoadedPolicy's destructor skip the per-policy map updates that only
  // matter to a datapath that goes on (each costs RCU grace periods).
  // Nothing can be loaded afterwards. Default: nothing to do.
  virtual void BeginShutdown() {}
};

// A backend for a loader that is not available (not built, or its datapath
// failed to start): Availability() and every Load fail with
// FAILED_PRECONDITION naming the loader and `why`, so nothing pretends to be
// enforced and GetHealth can say what is missing.
std::unique_ptr<PolicyBackend> MakeUnavailableBackend(std::string loader, std::string why);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYMGR_POLICY_BACKEND_H_
