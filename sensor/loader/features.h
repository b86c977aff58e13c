// Kernel features by trial: for each hook kind, a minimal program of that
// kind is loaded and attached (then detached) on the running kernel, once per
// process, and what the kernel said is kept (errno, verifier or libbpf
// message). Nothing is guessed from files: a kernel can list a feature and
// still refuse it (lockdown, seccomp, capabilities, a restricted VM).
// A policy on a hook kind that failed its probe is refused at add time with
// FAILED_PRECONDITION naming the policy field and the kernel's reason.
#ifndef TGDISPATCH_SENSOR_LOADER_FEATURES_H_
#define TGDISPATCH_SENSOR_LOADER_FEATURES_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tgd {

enum class HookFeature {
  kTracepoint,
  kRawTracepoint,
  kTpBtf,
  kKprobe,
  kKretprobe,
  kUprobe,
  kUretprobe,
  kLsm,
  kFentry,
  kFexit,
};
inline constexpr int kNumHookFeatures = 10;

// "tracepoint", "raw_tracepoint", "tp_btf", "kprobe", "kretprobe", "uprobe",
// "uretprobe", "lsm", "fentry", "fexit".
const char* HookFeatureName(HookFeature f);

// The outcome of one probe.
struct FeatureProbe {
  HookFeature feature = HookFeature::kTracepoint;
  bool available = false;
  std::string target;  // what the probe attached to, e.g. "lsm/file_open"
  std::string stage;   // where it failed: "load", "attach", "run" (empty when available)
  int err = 0;         // errno of the failure (0: none, or not an errno failure)
  // Why it is unavailable, in the kernel's words, e.g. "loading an lsm
  // program: EPERM (Operation not permitted)"; empty when available.
  std::string reason;
};

class KernelFeatures {
 public:
  // The probes of this process: run on the first call (10 program loads
  // and attaches, under a second), then cached. Thread-safe. Needs root (CAP_BPF,
  // CAP_PERFMON) to find anything available; mounts tracefs when absent, as
  // the loader does for its first tracepoint.
  static const KernelFeatures& Get();
  // Probes again, uncached (tests that change the machine between probes).
  static KernelFeatures ProbeNow();
  // A table built by hand (tests of what depends on it).
  static KernelFeatures ForTesting(std::vector<FeatureProbe> probes);

  const FeatureProbe& Of(HookFeature f) const { return probes_[static_cast<int>(f)]; }
  bool Has(HookFeature f) const { return Of(f).available; }
  const std::vector<FeatureProbe>& All() const { return probes_; }

  // What Set on usdts needs from uprobe programs, probed by loading one
  // (not part of All(): not hook kinds): writing the probed process's memory
  // (bpf_probe_write_user, refused under lockdown) and storing to its
  // registers (pt_regs context writes, only in recent kernels).
  const FeatureProbe& UprobeWriteUser() const { return uprobe_write_user_; }
  const FeatureProbe& UprobeWriteRegs() const { return uprobe_write_regs_; }
  // Tests: replaces them (ForTesting makes both available).
  void SetUprobeWriteProbesForTesting(FeatureProbe user, FeatureProbe regs) {
    uprobe_write_user_ = std::move(user);
    uprobe_write_regs_ = std::move(regs);
  }

  // One line per unavailable kind: "lsm: loading an lsm program: EPERM (...)".
  std::vector<std::string> Unavailable() const;
  // Human table: kind, yes/no, what was probed, the reason.
  std::string FormatTable() const;
  // {"features": [{"kind": "lsm", "available": false, "target": ..., "stage":
  // ..., "errno": 1, "error": "EPERM", "reason": ...}, ...]}
  std::string FormatJson() const;

 private:
  std::vector<FeatureProbe> probes_;  // indexed by HookFeature
  FeatureProbe uprobe_write_user_, uprobe_write_regs_;
};

// OK when hooks of `feature` run here; FAILED_PRECONDITION otherwise:
// "<path>: this kernel cannot run <kind> programs: <reason>".
absl::Status CheckHookSupported(const KernelFeatures& f, HookFeature feature, absl::string_view path);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_FEATURES_H_
