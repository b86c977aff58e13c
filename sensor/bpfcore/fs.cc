// bpffs / tracefs / cgroup v2 discovery and mounting.
#include "sensor/bpfcore/fs.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sensor/base/errno_status.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace tgd {

absl::StatusOr<std::string> FindMount(absl::string_view fstype) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return absl::NotFoundError("cannot read /proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "id parent maj:min root mountpoint opts [optional...] - fstype src opts"
    std::vector<absl::string_view> parts = absl::StrSplit(line, " - ");
    if (parts.size() < 2) continue;
    std::vector<absl::string_view> pre = absl::StrSplit(parts[0], ' ');
    std::vector<absl::string_view> post = absl::StrSplit(parts[1], ' ');
    if (pre.size() < 5 || post.empty()) continue;
    if (post[0] == fstype) return std::string(pre[4]);
  }
  return absl::NotFoundError(absl::StrCat("no ", fstype, " mount in /proc/self/mountinfo"));
}

static bool IsBpffs(const std::string& path) {
  struct statfs st;
  return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

absl::Status EnsureBpffsDir(absl::string_view dir_view) {
  std::string dir(dir_view);
  std::filesystem::path p(dir);
  std::string root = "/sys/fs/bpf";
  if (!IsBpffs(root) && absl::StartsWith(dir, root)) {
    std::error_code ec;
    std::filesystem::create_directories(root, ec);
    if (mount("bpf", root.c_str(), "bpf", 0, nullptr) != 0) {
      return ErrnoStatus(errno, "mount bpffs at /sys/fs/bpf");
    }
  }
  // The nearest existing ancestor must be on bpffs.
  std::filesystem::path probe = p;
  while (!probe.empty() && !std::filesystem::exists(probe)) probe = probe.parent_path();
  if (probe.empty() || !IsBpffs(probe.string())) {
    return absl::FailedPreconditionError(
        absl::StrCat("bpf dir ", dir, ": not on a mounted bpffs (mount -t bpf bpf ", root, ")"));
  }
  std::error_code ec;
  std::filesystem::create_directories(p, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("mkdir ", dir));
  return absl::OkStatus();
}

absl::StatusOr<std::string> EnsureTracefs() {
  if (auto m = FindMount("tracefs"); m.ok()) return *m;
  std::string root = "/sys/kernel/tracing";
  if (mount("tracefs", root.c_str(), "tracefs", 0, nullptr) != 0) {
    return ErrnoStatus(errno, "mount tracefs at /sys/kernel/tracing");
  }
  return root;
}

absl::StatusOr<std::string> FindCgroup2Mount() { return FindMount("cgroup2"); }

absl::StatusOr<uint64_t> CgroupIdOfPath(absl::string_view path) {
  struct stat st;
  std::string p(path);
  if (stat(p.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", p));
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(p, ": not a cgroup directory"));
  }
  return static_cast<uint64_t>(st.st_ino);
}

}  // namespace tgd
