// CgroupTracker: keeps tg_cgtracker_map (cgroup id -> tracked container cgroup
// id) so that a process in a container's sub-cgroup counts as the container,
// like Tetragon's cgroup tracker. User space inserts the tracked cgroup itself
// and its existing descendants; the bpf/cgtracker program (raw_tp
// cgroup_mkdir / cgroup_release) follows later mkdirs. When that program does
// not attach on this kernel, the tracker logs it and relies on user-space
// scans only (Track, Rescan).
//
// Beside a Tetragon agent that pins tg_cgtracker_map, that map is used (so the
// dispatcher sees the agent's tracked containers live, per event) and shared:
// tgdispatch only adds entries that are absent and never changes or deletes
// one from user space.
#ifndef TGDISPATCH_SENSOR_POLICYFILTER_CGROUP_TRACKER_H_
#define TGDISPATCH_SENSOR_POLICYFILTER_CGROUP_TRACKER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {

struct CgroupTrackerOptions {
  std::string pin_dir;            // own map: created and pinned here as tg_cgtracker_map
  std::string tetragon_bpf_dir;   // if set and it holds tg_cgtracker_map: use that one
  uint32_t max_entries = 65536;   // own map size
  bool load_program = true;       // false: user-space scans only
  bool unpin_on_close = true;
};

class CgroupTracker {
 public:
  // Errors: FAILED_PRECONDITION (Tetragon's map has another layout), errno.
  // A program that does not load or attach is not an error (see
  // program_attached()).
  static absl::StatusOr<std::unique_ptr<CgroupTracker>> Create(const CgroupTrackerOptions& options);
  ~CgroupTracker();

  // Maps `id` and every existing descendant of the cgroup directory `path`
  // (may be empty: then only `id`) to `id`.
  // Errors: RESOURCE_EXHAUSTED when the map is full, errno.
  absl::Status Track(uint64_t id, const std::string& path);
  // Removes every entry that maps to `id` (own map only: in the agent's
  // shared map the kernel's release programs remove entries).
  absl::Status Untrack(uint64_t id);
  // Re-scans the descendants of every tracked cgroup (the fallback when the
  // BPF program is not attached).
  absl::Status Rescan();

  // The tracked container cgroup `cgroup_id` maps to (itself for a tracked
  // cgroup), or nullopt. One map lookup; thread-safe.
  std::optional<uint64_t> ContainerOf(uint64_t cgroup_id) const;

  bool program_attached() const { return program_ != nullptr; }
  // Whether the map is a Tetragon agent's (shared).
  bool shared() const { return shared_; }
  int map_fd() const { return map_.get(); }

 private:
  struct Program;
  CgroupTracker() = default;
  absl::Status ScanInto(uint64_t id, const std::string& path);

  FileDescriptor map_;
  bool shared_ = false;
  std::string pin_path_;  // own map's pin (removed on close), else empty
  std::unique_ptr<Program> program_;
  std::map<uint64_t, std::string> tracked_;  // id -> directory
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYFILTER_CGROUP_TRACKER_H_
