// Cleanup implementation.
#include "sensor/daemon/cleanup.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "sensor/base/errno_status.h"
#include "sensor/loader/link_pins.h"
#include "sensor/policyfilter/filter_maps.h"
#include "sensor/statedir/policy_store.h"

namespace tgd {

absl::Status Cleanup(const std::string& bpf_dir, const std::string& state_dir, std::ostream& out) {
  for (const auto& [flag, dir] : {std::pair<const char*, const std::string&>{"--bpf-dir", bpf_dir},
                                  std::pair<const char*, const std::string&>{"--state-dir", state_dir}}) {
    if (dir.empty() || dir[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(flag, " \"", dir, "\": want an absolute path"));
    }
  }
  if (int pid = StateDirLock::HolderPid(state_dir); pid != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a tgdispatch daemon (pid ", pid < 0 ? std::string("unknown") : absl::StrCat(pid),
        ") is running with --state-dir ", state_dir,
        ": stop it first (SIGTERM keeps its programs enforcing; cleanup then removes them)"));
  }
  std::vector<std::string> runs = ListGenerations(bpf_dir);
  size_t n = RetireGenerations(runs);
  out << "removed " << n << " pins (links and maps) of " << runs.size() << " runs under " << bpf_dir
      << ", their programs detached\n";
  for (const char* name : {kPolicyFilterMapName, kPolicyFilterCgroupMapName, kCgtrackerMapName}) {
    std::string pin = absl::StrCat(bpf_dir, "/", name);
    if (unlink(pin.c_str()) == 0) {
      out << "unpinned " << pin << "\n";
    } else if (errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("removing ", pin));
    }
  }
  if (rmdir(bpf_dir.c_str()) == 0) {
    out << "removed " << bpf_dir << "\n";
  } else if (errno != ENOENT) {
    out << "kept " << bpf_dir << " (" << strerror(errno) << ")\n";
  }
  std::error_code ec;
  bool had_state = std::filesystem::exists(state_dir, ec);
  if (absl::Status st = RemoveStateDir(state_dir); !st.ok()) return st;
  if (had_state) {
    out << (std::filesystem::exists(state_dir, ec) ? "removed the recorded policies in " : "removed ") << state_dir
        << "\n";
  }
  return absl::OkStatus();
}

}  // namespace tgd
