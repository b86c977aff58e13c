// CgroupTracker implementation.
#include "sensor/policyfilter/cgroup_tracker.h"

#include <bpf/bpf.h>
#include <glog/logging.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bpf/cgtracker/cgtracker.skel.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"
#include "sensor/bpfcore/bpf_owners.h"
#include "sensor/policyfilter/filter_maps.h"

namespace tgd {

struct CgroupTracker::Program {
  Skeleton<cgtracker> skel;
};

absl::StatusOr<std::unique_ptr<CgroupTracker>> CgroupTracker::Create(
    const CgroupTrackerOptions& o) {
  std::unique_ptr<CgroupTracker> t(new CgroupTracker());
  if (!o.tetragon_bpf_dir.empty()) {
    std::string pin = o.tetragon_bpf_dir + "/" + kCgtrackerMapName;
    int fd = bpf_obj_get(pin.c_str());
    if (fd >= 0) {
      t->map_.Reset(fd);
      t->shared_ = true;
      TGD_RETURN_IF_ERROR(CheckMapLayout(fd, pin, BPF_MAP_TYPE_HASH, 8, 8));
    }
  }
  if (!t->map_.valid()) {
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
    int fd = bpf_map_create(BPF_MAP_TYPE_HASH, kCgtrackerMapName, 8, 8, o.max_entries, &opts);
    if (fd < 0) return ErrnoStatus(errno, "create tg_cgtracker_map");
    t->map_.Reset(fd);
    if (!o.pin_dir.empty()) {
      std::string pin = o.pin_dir + "/" + kCgtrackerMapName;
      unlink(pin.c_str());
      if (bpf_obj_pin(fd, pin.c_str()) != 0) return ErrnoStatus(errno, "pin " + pin);
      if (o.unpin_on_close) t->pin_path_ = pin;
    }
  }
  if (o.load_program) {
    auto prog = std::make_unique<Program>();
    prog->skel.reset(cgtracker::open());
    std::string why;
    if (!prog->skel) {
      why = "open failed";
    } else {
      bpf_map__reuse_fd(prog->skel->maps.tg_cgtracker_map, t->map_.get());
      bpf_map__set_autocreate(prog->skel->maps.policy_filter_maps, false);
      bpf_map__set_autocreate(prog->skel->maps.policy_filter_cgroup_maps, false);
      if (int err = cgtracker::load(prog->skel.get()); err != 0) {
        why = absl::StrCat("load: ", strerror(-err));
      } else if (int err = cgtracker::attach(prog->skel.get()); err != 0) {
        why = absl::StrCat("attach raw_tp cgroup_mkdir/cgroup_release: ", strerror(-err));
      }
    }
    if (why.empty()) {
      t->program_ = std::move(prog);
    } else {
      LOG(WARNING) << "cgroup tracker program unavailable (" << why
                   << "); tracking sub-cgroups by user-space scans only";
    }
  }
  return t;
}

CgroupTracker::~CgroupTracker() {
  program_.reset();
  if (!pin_path_.empty()) unlink(pin_path_.c_str());
}

absl::Status CgroupTracker::ScanInto(uint64_t id, const std::string& path) {
  auto put = [&](uint64_t key) -> absl::Status {
    // In the agent's map an entry that is there stays as the agent wrote it.
    if (bpf_map_update_elem(map_.get(), &key, &id, shared_ ? BPF_NOEXIST : BPF_ANY) != 0) {
      int err = errno;
      if (shared_ && err == EEXIST) return absl::OkStatus();
      if (err == E2BIG || err == ENOSPC) {
        return absl::ResourceExhaustedError("tg_cgtracker_map is full");
      }
      return ErrnoStatus(err, "update tg_cgtracker_map");
    }
    return absl::OkStatus();
  };
  TGD_RETURN_IF_ERROR(put(id));
  if (path.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(
      path, std::filesystem::directory_options::skip_permission_denied, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    struct stat st;
    if (stat(it->path().c_str(), &st) != 0) continue;  // raced an rmdir
    TGD_RETURN_IF_ERROR(put(st.st_ino));
  }
  return absl::OkStatus();
}

absl::Status CgroupTracker::Track(uint64_t id, const std::string& path) {
  TGD_RETURN_IF_ERROR(ScanInto(id, path));
  tracked_[id] = path;
  return absl::OkStatus();
}

absl::Status CgroupTracker::Untrack(uint64_t id) {
  tracked_.erase(id);
  // The agent's map: whether the agent tracks these cgroups too cannot be
  // told (it writes the same pairs), and removing one of its entries would
  // take its policies off the container's sub-cgroups. The release programs
  // (ours and the agent's) delete an entry when its cgroup goes.
  if (shared_) return absl::OkStatus();
  std::vector<uint64_t> drop;
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(map_.get(), prev, &next) == 0) {
    uint64_t value = 0;
    if (bpf_map_lookup_elem(map_.get(), &next, &value) == 0 && value == id) drop.push_back(next);
    key = next;
    prev = &key;
  }
  for (uint64_t k : drop) bpf_map_delete_elem(map_.get(), &k);
  return absl::OkStatus();
}

std::optional<uint64_t> CgroupTracker::ContainerOf(uint64_t cgroup_id) const {
  uint64_t value = 0;
  if (bpf_map_lookup_elem(map_.get(), &cgroup_id, &value) != 0) return std::nullopt;
  return value;
}

absl::Status CgroupTracker::Rescan() {
  for (const auto& [id, path] : tracked_) TGD_RETURN_IF_ERROR(ScanInto(id, path));
  return absl::OkStatus();
}

}  // namespace tgd
