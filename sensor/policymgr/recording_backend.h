// RecordingBackend (tests only): a PolicyBackend that records what the policy
// lifecycle asks of it, for tests of the manager and the gRPC layer. Policies
// named "unloadable" fail to load with FAILED_PRECONDITION.
#ifndef TGDISPATCH_SENSOR_POLICYMGR_RECORDING_BACKEND_H_
#define TGDISPATCH_SENSOR_POLICYMGR_RECORDING_BACKEND_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sensor/policymgr/policy_backend.h"

namespace tgd::testing {

struct BackendLog {
  // Called by the backend and its policies, which the manager may drive from
  // several threads at once (loads run outside its lock).
  void Add(std::string event) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(std::move(event));
  }
  std::mutex mu;
  // "load <name> <filter id>", "unload <name>", "enable <name> 0|1",
  // "mode <name> monitor|enforce". Tests read it once the calls are done.
  std::vector<std::string> events;
};

class RecordingPolicy final : public LoadedPolicy {
 public:
  RecordingPolicy(BackendLog* log, std::string name) : log_(log), name_(std::move(name)) {}
  ~RecordingPolicy() override { log_->Add("unload " + name_); }
  absl::Status SetEnabled(bool on) override {
    log_->Add("enable " + name_ + " " + std::to_string(on));
    return absl::OkStatus();
  }
  absl::Status SetMode(PolicyMode m) override {
    log_->Add("mode " + name_ + " " + (m == PolicyMode::kMonitor ? "monitor" : "enforce"));
    return absl::OkStatus();
  }
  uint64_t KernelMemoryBytes() const override { return 4096; }
  std::vector<std::string> Sensors() const override { return {"dispatch:" + name_}; }
  // Distinct values, so a test sees each land in its own field.
  PolicyCounters Counters() const override {
    PolicyCounters c;
    c.events = 7;
    c.signals = 1;
    c.monitor_signals = 2;
    c.overrides = 3;
    c.monitor_overrides = 4;
    return c;
  }

 private:
  BackendLog* log_;
  std::string name_;
};

class RecordingBackend final : public PolicyBackend {
 public:
  explicit RecordingBackend(BackendLog* log) : log_(log) {}
  std::string Name() const override { return "dispatch"; }
  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const PolicyDocument& doc, uint32_t fid,
                                                     PolicyMode) override {
    if (doc.name == "unloadable") return absl::FailedPreconditionError("kernel lacks kprobe attach");
    log_->Add("load " + doc.name + " " + std::to_string(fid));
    return std::make_unique<RecordingPolicy>(log_, doc.name);
  }

 private:
  BackendLog* log_;
};

// A minimal valid policy document with one tracepoint hook.
inline std::string TestPolicyYaml(const std::string& name, const std::string& extra_spec = "",
                                  const std::string& kind = "TracingPolicy",
                                  const std::string& ns = "") {
  std::string y = "apiVersion: cilium.io/v1alpha1\nkind: " + kind + "\nmetadata:\n  name: " + name + "\n";
  if (!ns.empty()) y += "  namespace: " + ns + "\n";
  y += "spec:\n  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n" + extra_spec;
  return y;
}

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_POLICYMGR_RECORDING_BACKEND_H_
