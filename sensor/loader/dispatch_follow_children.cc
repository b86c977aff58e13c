// DispatchBackend: matchBinaries followChildren. As Tetragon's mbset, each
// followChildren matchBinaries of a loaded policy holds one of 64 bits; its
// paths map to their bits in tgd_follow_paths, and the trackers give every
// process the bits of what it and its ancestors ran (tgd_follow_bits,
// bpf/dispatch/lineage.bpf.h).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <glog/logging.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "bpf/dispatch/dispatch.skel.h"
#include "sensor/base/errno_status.h"
#include "sensor/loader/dispatch_backend.h"

namespace tgd {

absl::Status DispatchBackend::WriteFollowPath(const std::string& path) {
  char key[TGD_STR_MAX] = {};
  memcpy(key, path.data(), path.size() < sizeof(key) ? path.size() : sizeof(key));
  const int fd = bpf_map__fd(shared_->maps.tgd_follow_paths);
  auto it = follow_paths_.find(path);
  if (it == follow_paths_.end() || it->second == 0) {
    if (it != follow_paths_.end()) follow_paths_.erase(it);
    bpf_map_delete_elem(fd, key);
    return absl::OkStatus();
  }
  if (bpf_map_update_elem(fd, key, &it->second, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "writing tgd_follow_paths");
  }
  return absl::OkStatus();
}

absl::Status DispatchBackend::AddFollowChildren(Entry& e) {
  if (e.compiled.follow_children.empty()) return absl::OkStatus();
  const std::string path = absl::StrCat(e.compiled.spec_path, ".selectors[", e.compiled.follow_children[0].sel,
                                        "].matchBinaries[0].followChildren");
  if (opts_.per_policy) {
    return absl::UnimplementedError(absl::StrCat(path, ": not supported by the per-policy comparison loader"));
  }
  for (const CompiledHook::FollowChildren& fc : e.compiled.follow_children) {
    int bit = 0;
    while (bit < TGD_FOLLOW_IDS && ((follow_used_ >> bit) & 1)) ++bit;
    if (bit == TGD_FOLLOW_IDS) {
      return absl::ResourceExhaustedError(absl::StrCat(path, ": ", TGD_FOLLOW_IDS,
                                                       " matchBinaries with followChildren are loaded already (as "
                                                       "Tetragon's limit)"));
    }
    follow_used_ |= 1ULL << bit;
    e.follow_bits.push_back(bit);
    e.compiled.cfg.sel[fc.sel].bin_follow = static_cast<uint8_t>(bit + 1);
    for (const std::string& p : fc.paths) {
      if (p.size() >= TGD_STR_MAX) continue;  // no exec path that long is recorded: it matches nothing
      follow_paths_[p] |= 1ULL << bit;
      if (absl::Status s = WriteFollowPath(p); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

void DispatchBackend::RemoveFollowChildren(Entry& e) {
  if (e.follow_bits.empty()) return;
  uint64_t mask = 0;
  for (int bit : e.follow_bits) mask |= 1ULL << bit;
  std::vector<std::string> touched;
  for (auto& [p, bits] : follow_paths_) {
    if (!(bits & mask)) continue;
    bits &= ~mask;
    touched.push_back(p);
  }
  for (const std::string& p : touched) {
    if (absl::Status s = WriteFollowPath(p); !s.ok()) LOG(WARNING) << "followChildren: " << s;
  }
  // The processes' records: a later policy given these bits starts clean.
  const int fd = bpf_map__fd(shared_->maps.tgd_follow_bits);
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    uint64_t bits = 0;
    if (bpf_map_lookup_elem(fd, &next, &bits) == 0 && (bits & mask)) {
      bits &= ~mask;
      bpf_map_update_elem(fd, &next, &bits, BPF_EXIST);
    }
    key = next;
    prev = &key;
  }
  follow_used_ &= ~mask;
  e.follow_bits.clear();
}

}  // namespace tgd
