// The kernel file systems the sensor needs: bpffs, tracefs and cgroup v2.
#ifndef TGDISPATCH_SENSOR_BPFCORE_FS_H_
#define TGDISPATCH_SENSOR_BPFCORE_FS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tgd {

// Makes sure `dir` lies on a mounted bpffs and exists: mounts bpffs at
// /sys/fs/bpf when nothing is mounted there, then creates `dir` (and parents).
// Errors: FAILED_PRECONDITION when `dir` is not under a bpffs mount, or the
// errno of mount/mkdir.
absl::Status EnsureBpffsDir(absl::string_view dir);

// Returns the tracefs root (e.g. /sys/kernel/tracing), mounting tracefs there
// when no tracefs is mounted. Errors: the errno of mount.
absl::StatusOr<std::string> EnsureTracefs();

// Returns the mount point of the cgroup v2 hierarchy found in
// /proc/self/mountinfo (/sys/fs/cgroup on unified hosts,
// /sys/fs/cgroup/unified on hybrid ones). Errors: NOT_FOUND.
absl::StatusOr<std::string> FindCgroup2Mount();

// The cgroup id of a cgroup v2 directory: its inode number, which is what
// bpf_get_current_cgroup_id() returns for tasks in it. Errors: stat's errno.
absl::StatusOr<uint64_t> CgroupIdOfPath(absl::string_view path);

// Finds the mount point of `fstype` in /proc/self/mountinfo; NOT_FOUND if none.
absl::StatusOr<std::string> FindMount(absl::string_view fstype);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BPFCORE_FS_H_
