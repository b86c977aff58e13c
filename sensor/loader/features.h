// Kernel features the hook kinds need, probed on the running kernel (never
// assumed): a policy whose hook cannot attach here is refused at add time
// with FAILED_PRECONDITION naming the missing feature.
#ifndef TGDISPATCH_SENSOR_LOADER_FEATURES_H_
#define TGDISPATCH_SENSOR_LOADER_FEATURES_H_

#include <string>

#include "absl/status/status.h"

namespace tgd {

struct KernelFeatures {
  bool kprobes = false;   // the kprobe PMU (CONFIG_KPROBE_EVENTS)
  bool uprobes = false;   // the uprobe PMU
  bool bpf_lsm = false;   // "bpf" in the active LSM list
  bool tracepoints = false;
  bool fentry = false;      // an fentry program loads and attaches (BPF trampolines)
  std::string fentry_error; // the kernel's reason when not

  static KernelFeatures Probe();
};

// OK when `hook_kind` ("kprobe", "tracepoint", "raw_tp", "lsm", "uprobe", "fentry")
// can attach here; FAILED_PRECONDITION otherwise, naming `path` and the feature.
absl::Status CheckHookSupported(const KernelFeatures& f, const std::string& hook_kind, const std::string& path);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_FEATURES_H_
