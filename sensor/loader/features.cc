#include "sensor/loader/features.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tgd {

KernelFeatures KernelFeatures::Probe() {
  KernelFeatures f;
  struct stat st;
  f.kprobes = stat("/sys/bus/event_source/devices/kprobe/type", &st) == 0;
  f.uprobes = stat("/sys/bus/event_source/devices/uprobe/type", &st) == 0;
  f.tracepoints = stat("/sys/bus/event_source/devices/tracepoint/type", &st) == 0;
  std::ifstream lsm("/sys/kernel/security/lsm");
  std::stringstream ss;
  ss << lsm.rdbuf();
  for (absl::string_view name : absl::StrSplit(ss.str(), ',')) {
    if (absl::StripAsciiWhitespace(name) == "bpf") f.bpf_lsm = true;
  }
  return f;
}

absl::Status CheckHookSupported(const KernelFeatures& f, const std::string& kind, const std::string& path) {
  auto missing = [&](absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": this kernel cannot attach ", kind, " programs: ", what));
  };
  if (kind == "kprobe" && !f.kprobes) {
    return missing("no kprobe PMU (/sys/bus/event_source/devices/kprobe; CONFIG_KPROBES/CONFIG_KPROBE_EVENTS off)");
  }
  if (kind == "uprobe" && !f.uprobes) return missing("no uprobe PMU (CONFIG_UPROBE_EVENTS off)");
  if (kind == "lsm" && !f.bpf_lsm) {
    return missing("BPF LSM is not active (\"bpf\" missing from /sys/kernel/security/lsm)");
  }
  if (kind == "tracepoint" && !f.tracepoints) return missing("no tracepoint PMU");
  return absl::OkStatus();
}

}  // namespace tgd
