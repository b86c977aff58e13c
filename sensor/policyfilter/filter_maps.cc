// FilterMaps implementation: map creation/opening, layout checks, inner map
// sizing and the primitive pair updates.
#include "sensor/policyfilter/filter_maps.h"

#include <bpf/bpf.h>
#include <glog/logging.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compat/policyfilter/policy_filter.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"

namespace tgd {
namespace {

constexpr uint32_t kPolicyKeySize = sizeof(tg_policy_id_t);
constexpr uint32_t kCgroupKeySize = sizeof(tg_cgroup_id_t);
constexpr uint32_t kInnerValueSize = sizeof(tg_policy_filter_val_t);
constexpr uint32_t kOuterValueSize = sizeof(uint32_t);  // inner map fd in, id out
static_assert(kPolicyKeySize == 4 && kCgroupKeySize == 8 && kInnerValueSize == 1);

// Inner maps start this small and double as they fill (own mode).
constexpr uint32_t kInitialPolicyInner = 16;
constexpr uint32_t kInitialCgroupInner = 8;

const char* MapTypeName(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_HASH:
      return "HASH";
    case BPF_MAP_TYPE_HASH_OF_MAPS:
      return "HASH_OF_MAPS";
    case BPF_MAP_TYPE_ARRAY:
      return "ARRAY";
    case BPF_MAP_TYPE_ARRAY_OF_MAPS:
      return "ARRAY_OF_MAPS";
    case BPF_MAP_TYPE_LRU_HASH:
      return "LRU_HASH";
    default:
      return "other";
  }
}

absl::StatusOr<bpf_map_info> MapInfo(int fd) {
  bpf_map_info info;
  memset(&info, 0, sizeof(info));
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return ErrnoStatus(errno, "bpf map info");
  return info;
}

}  // namespace

absl::Status FilterMapError(int err, const std::string& what) {
  err = err < 0 ? -err : err;
  if (err == E2BIG || err == ENOSPC) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": map is full"));
  }
  return ErrnoStatus(err, what);
}

namespace {

absl::Status MapError(int err, const std::string& what) { return FilterMapError(err, what); }

// Iterates the keys of `fd` (key of type K) calling fn(key).
template <typename K, typename Fn>
absl::Status ForEachKey(int fd, Fn fn) {
  K key{}, next{};
  K* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    TGD_RETURN_IF_ERROR(fn(next));
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "bpf_map_get_next_key");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FileDescriptor> FilterMapInnerOf(int outer_fd, const void* key) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(outer_fd, key, &id) != 0) return ErrnoStatus(errno, "outer lookup");
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open inner map id ", id));
  return FileDescriptor(fd);
}

namespace {

absl::StatusOr<FileDescriptor> InnerOf(int outer_fd, const void* key) { return FilterMapInnerOf(outer_fd, key); }

template <typename K, typename V>
absl::Status ReadOuter(int outer_fd, std::map<K, std::set<V>>* out) {
  return ForEachKey<K>(outer_fd, [&](K key) -> absl::Status {
    auto inner = InnerOf(outer_fd, &key);
    if (!inner.ok()) {
      if (absl::IsNotFound(inner.status())) return absl::OkStatus();  // raced a delete
      return inner.status();
    }
    std::set<V>& row = (*out)[key];
    return ForEachKey<V>(inner->get(), [&](V v) {
      row.insert(v);
      return absl::OkStatus();
    });
  });
}

}  // namespace

std::map<uint64_t, std::set<uint32_t>> ReverseOf(
    const std::map<uint32_t, std::set<uint64_t>>& policies) {
  std::map<uint64_t, std::set<uint32_t>> out;
  for (const auto& [pid, cgs] : policies) {
    for (uint64_t cg : cgs) out[cg].insert(pid);
  }
  return out;
}

absl::StatusOr<PolicyFilterContent> ReadPolicyFilterMaps(int policy_map_fd, int cgroup_map_fd) {
  PolicyFilterContent c;
  TGD_RETURN_IF_ERROR((ReadOuter<uint32_t, uint64_t>(policy_map_fd, &c.policies)));
  if (cgroup_map_fd >= 0) {
    TGD_RETURN_IF_ERROR((ReadOuter<uint64_t, uint32_t>(cgroup_map_fd, &c.cgroups)));
  }
  return c;
}

absl::Status CheckMapLayout(int fd, const std::string& name, uint32_t type, uint32_t key_size,
                            uint32_t value_size) {
  TGD_ASSIGN_OR_RETURN(bpf_map_info info, MapInfo(fd));
  if (info.type != type) {
    return absl::FailedPreconditionError(absl::StrCat(name, ": map type is ", MapTypeName(info.type),
                                                      " (", info.type, "), expected ",
                                                      MapTypeName(type), " (", type, ")"));
  }
  if (info.key_size != key_size) {
    return absl::FailedPreconditionError(absl::StrCat(name, ": key size is ", info.key_size,
                                                      " bytes, expected ", key_size));
  }
  if (info.value_size != value_size) {
    return absl::FailedPreconditionError(absl::StrCat(name, ": value size is ", info.value_size,
                                                      " bytes, expected ", value_size));
  }
  return absl::OkStatus();
}

namespace {

absl::StatusOr<FileDescriptor> OpenPin(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such pinned map"));
    return ErrnoStatus(err, absl::StrCat("open pinned map ", path));
  }
  return FileDescriptor(fd);
}

// Checks the outer layout and the layout of the first inner map found (if
// any); returns that inner map's flags through *inner_flags.
absl::Status CheckOuterAndInner(int fd, const std::string& name, uint32_t outer_key,
                                uint32_t inner_key, uint32_t* inner_flags) {
  TGD_RETURN_IF_ERROR(
      CheckMapLayout(fd, name, BPF_MAP_TYPE_HASH_OF_MAPS, outer_key, kOuterValueSize));
  std::vector<uint8_t> key(outer_key);
  if (bpf_map_get_next_key(fd, nullptr, key.data()) != 0) return absl::OkStatus();  // empty
  TGD_ASSIGN_OR_RETURN(FileDescriptor inner, InnerOf(fd, key.data()));
  TGD_RETURN_IF_ERROR(CheckMapLayout(inner.get(), name + " (inner map)", BPF_MAP_TYPE_HASH,
                                     inner_key, kInnerValueSize));
  TGD_ASSIGN_OR_RETURN(bpf_map_info info, MapInfo(inner.get()));
  if (inner_flags) *inner_flags = info.map_flags;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PolicyFilterContent> ReadPinnedPolicyFilterMaps(const std::string& dir,
                                                               bool* has_cgroup_map) {
  TGD_ASSIGN_OR_RETURN(FileDescriptor pol, OpenPin(dir + "/" + kPolicyFilterMapName));
  TGD_RETURN_IF_ERROR(
      CheckOuterAndInner(pol.get(), kPolicyFilterMapName, kPolicyKeySize, kCgroupKeySize, nullptr));
  FileDescriptor cg;
  auto cg_or = OpenPin(dir + "/" + kPolicyFilterCgroupMapName);
  if (cg_or.ok()) {
    cg = std::move(*cg_or);
    TGD_RETURN_IF_ERROR(CheckOuterAndInner(cg.get(), kPolicyFilterCgroupMapName, kCgroupKeySize,
                                           kPolicyKeySize, nullptr));
  } else if (!absl::IsNotFound(cg_or.status())) {
    return cg_or.status();
  }
  if (has_cgroup_map) *has_cgroup_map = cg.valid();
  return ReadPolicyFilterMaps(pol.get(), cg.valid() ? cg.get() : -1);
}

std::string FormatPolicyFilterContent(const PolicyFilterContent& c, uint32_t all_pods_id) {
  auto cg_name = [](uint64_t cg) {
    return cg == POLICY_FILTER_HOST_CGROUP_KEY ? std::string("host") : absl::StrCat(cg);
  };
  auto pol_name = [all_pods_id](uint32_t p) {
    return p == all_pods_id ? absl::StrCat(p, "(all-pods)") : absl::StrCat(p);
  };
  std::string out = "cgroup id -> policy ids\n";
  for (const auto& [cg, pols] : c.cgroups) {
    absl::StrAppend(&out, "  ", cg_name(cg), ":");
    for (uint32_t p : pols) absl::StrAppend(&out, " ", pol_name(p));
    out += "\n";
  }
  out += "policy id -> cgroup ids\n";
  for (const auto& [p, cgs] : c.policies) {
    absl::StrAppend(&out, "  ", pol_name(p), ":");
    for (uint64_t cg : cgs) absl::StrAppend(&out, " ", cg_name(cg));
    out += "\n";
  }
  return out;
}

absl::StatusOr<std::unique_ptr<FilterMaps>> FilterMaps::Create(const FilterMapsOptions& o) {
  if (o.max_policies == 0 || o.max_cgroups == 0) {
    return absl::InvalidArgumentError("max_policies and max_cgroups must be > 0");
  }
  std::unique_ptr<FilterMaps> m(new FilterMaps());
  m->use_bpf_ = o.use_bpf;
  m->deferred_ = o.use_bpf && o.defer_outer_writes;
  m->max_policies_ = o.max_policies;
  m->max_cgroups_ = o.max_cgroups;
  m->max_policies_per_cgroup_ =
      o.max_policies_per_cgroup ? o.max_policies_per_cgroup : o.max_policies + 1;
  m->max_cgroups_per_policy_ =
      o.max_cgroups_per_policy ? o.max_cgroups_per_policy : o.max_cgroups + 1;
  if (o.use_bpf) {
    if (o.bpf_dir.empty()) return absl::InvalidArgumentError("bpf_dir: empty");
    // Beside a Tetragon agent the agent's pins are checked first, so that a
    // wrong --tetragon-bpf-dir leaves our own pins alone.
    if (!o.tetragon_bpf_dir.empty()) TGD_RETURN_IF_ERROR(m->OpenAgent(o.tetragon_bpf_dir));
    TGD_RETURN_IF_ERROR(m->InitOwned(o));
  } else if (!o.tetragon_bpf_dir.empty()) {
    m->tetragon_mode_ = true;
  }
  if (!m->content_.policies.count(m->all_pods_id_)) {
    TGD_RETURN_IF_ERROR(m->CreatePolicy(m->all_pods_id_));
  }
  return m;
}

absl::Status FilterMaps::InitOwned(const FilterMapsOptions& o) {
  pin_dir_ = o.bpf_dir;
  unpin_ = o.unpin_on_close;
  policy_inner_flags_ = BPF_F_NO_PREALLOC;
  cgroup_inner_flags_ = BPF_F_NO_PREALLOC;
  auto make_outer = [&](const char* name, uint32_t key, uint32_t inner_key, uint32_t max,
                        uint32_t inner_flags) -> absl::StatusOr<FileDescriptor> {
    LIBBPF_OPTS(bpf_map_create_opts, topts, .map_flags = inner_flags);
    int tmpl = bpf_map_create(BPF_MAP_TYPE_HASH, "pf_inner_tmpl", inner_key, kInnerValueSize, 1,
                              &topts);
    if (tmpl < 0) return ErrnoStatus(errno, absl::StrCat("create inner template of ", name));
    FileDescriptor tmpl_fd(tmpl);
    int fd = -1;
    for (uint32_t flags : {static_cast<uint32_t>(BPF_F_NO_PREALLOC), 0u}) {
      LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = (__u32)tmpl, .map_flags = flags);
      fd = bpf_map_create(BPF_MAP_TYPE_HASH_OF_MAPS, name, key, kOuterValueSize, max, &opts);
      if (fd >= 0 || errno != EINVAL) break;
    }
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create ", name));
    FileDescriptor out(fd);
    std::string pin = o.bpf_dir + "/" + name;
    unlink(pin.c_str());
    if (bpf_obj_pin(fd, pin.c_str()) != 0) return ErrnoStatus(errno, absl::StrCat("pin ", pin));
    return out;
  };
  // One extra entry each: the all-pods policy, the hostSelector row.
  TGD_ASSIGN_OR_RETURN(policy_map_, make_outer(kPolicyFilterMapName, kPolicyKeySize, kCgroupKeySize,
                                               o.max_policies + 1, policy_inner_flags_));
  auto cg = make_outer(kPolicyFilterCgroupMapName, kCgroupKeySize, kPolicyKeySize,
                       o.max_cgroups + 1, cgroup_inner_flags_);
  if (!cg.ok()) {
    unlink((pin_dir_ + "/" + kPolicyFilterMapName).c_str());
    return cg.status();
  }
  cgroup_map_ = std::move(*cg);
  return absl::OkStatus();
}

absl::Status FilterMaps::OpenAgent(const std::string& dir) {
  tetragon_mode_ = true;
  agent_dir_ = dir;
  // Read-only: tgdispatch never writes into the agent's policy filter maps
  // (the kernel refuses it on these fds).
  auto open_ro = [](const std::string& path) -> absl::StatusOr<FileDescriptor> {
    LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = BPF_F_RDONLY);
    int fd = bpf_obj_get_opts(path.c_str(), &opts);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such pinned map"));
      return ErrnoStatus(err, absl::StrCat("open pinned map ", path));
    }
    return FileDescriptor(fd);
  };
  TGD_ASSIGN_OR_RETURN(agent_policy_map_, open_ro(dir + "/" + kPolicyFilterMapName));
  TGD_RETURN_IF_ERROR(CheckOuterAndInner(agent_policy_map_.get(), dir + "/" + kPolicyFilterMapName,
                                         kPolicyKeySize, kCgroupKeySize, nullptr));
  auto cg = open_ro(dir + "/" + kPolicyFilterCgroupMapName);
  if (cg.ok()) {
    agent_cgroup_map_ = std::move(*cg);
    TGD_RETURN_IF_ERROR(CheckOuterAndInner(agent_cgroup_map_.get(),
                                           dir + "/" + kPolicyFilterCgroupMapName, kCgroupKeySize,
                                           kPolicyKeySize, nullptr));
  } else if (!absl::IsNotFound(cg.status())) {
    return cg.status();  // absent: an agent without --enable-policy-filter-cgroup-map
  }
  return absl::OkStatus();
}

absl::StatusOr<PolicyFilterContent> FilterMaps::ReadAgent() const {
  if (!agent_policy_map_.valid()) return PolicyFilterContent{};
  return ReadPolicyFilterMaps(agent_policy_map_.get(),
                              agent_cgroup_map_.valid() ? agent_cgroup_map_.get() : -1);
}

FilterMaps::~FilterMaps() {
  if (use_bpf_ && unpin_) {
    unlink((pin_dir_ + "/" + kPolicyFilterMapName).c_str());
    unlink((pin_dir_ + "/" + kPolicyFilterCgroupMapName).c_str());
  }
}

bool FilterMaps::PolicyPresent(uint32_t policy_id) const {
  if (content_.policies.count(policy_id)) return true;
  if (!use_bpf_) return false;
  uint32_t inner_id = 0;
  if (bpf_map_lookup_elem(policy_map_.get(), &policy_id, &inner_id) == 0) return true;
  return agent_policy_map_.valid() &&
         bpf_map_lookup_elem(agent_policy_map_.get(), &policy_id, &inner_id) == 0;
}

uint32_t FilterMaps::PolicyInnerCapacity(uint32_t policy_id) const {
  auto it = policy_inner_.find(policy_id);
  return it == policy_inner_.end() ? 0 : it->second.capacity;
}

uint32_t FilterMaps::CgroupInnerCapacity(uint64_t cgroup_id) const {
  auto it = cgroup_inner_.find(cgroup_id);
  return it == cgroup_inner_.end() ? 0 : it->second.capacity;
}

absl::StatusOr<FileDescriptor> FilterMaps::NewInner(bool policy_side, uint64_t owner,
                                                    uint32_t capacity) {
  std::string name = policy_side ? absl::StrCat("pf_pol_", owner) : absl::StrCat("pf_cg_", owner);
  if (name.size() > 15) name.resize(15);
  LIBBPF_OPTS(bpf_map_create_opts, opts,
              .map_flags = policy_side ? policy_inner_flags_ : cgroup_inner_flags_);
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, name.c_str(),
                          policy_side ? kCgroupKeySize : kPolicyKeySize, kInnerValueSize,
                          capacity, &opts);
  if (fd < 0) return MapError(errno, absl::StrCat("create inner map ", name));
  return FileDescriptor(fd);
}

uint32_t FilterMaps::GrowTo(uint32_t current, size_t need, uint32_t cap, uint32_t initial) const {
  uint64_t c = std::max(current, initial);
  while (c < need) c *= 2;
  return static_cast<uint32_t>(std::min<uint64_t>(c, cap));
}

absl::Status FilterMaps::ResizePolicy(uint32_t policy_id, uint32_t capacity) {
  TGD_ASSIGN_OR_RETURN(FileDescriptor fd, NewInner(true, policy_id, capacity));
  uint8_t zero = 0;
  for (uint64_t cg : content_.policies[policy_id]) {
    if (bpf_map_update_elem(fd.get(), &cg, &zero, BPF_ANY) != 0) {
      return MapError(errno, "fill resized policy inner map");
    }
  }
  TGD_RETURN_IF_ERROR(PutInner(policy_map_.get(), &pending_policy_, policy_id, std::move(fd), BPF_EXIST,
                               absl::StrCat("swap inner map of policy ", policy_id)));
  policy_inner_[policy_id] = Inner{capacity};  // the outer map holds it; our fd closes
  return absl::OkStatus();
}

absl::Status FilterMaps::ResizeCgroup(uint64_t cgroup_id, uint32_t capacity) {
  TGD_ASSIGN_OR_RETURN(FileDescriptor fd, NewInner(false, cgroup_id, capacity));
  uint8_t zero = 0;
  for (uint32_t p : content_.cgroups[cgroup_id]) {
    if (bpf_map_update_elem(fd.get(), &p, &zero, BPF_ANY) != 0) {
      return MapError(errno, "fill resized cgroup inner map");
    }
  }
  TGD_RETURN_IF_ERROR(PutInner(cgroup_map_.get(), &pending_cgroup_, cgroup_id, std::move(fd), BPF_EXIST,
                               absl::StrCat("swap inner map of cgroup ", cgroup_id)));
  cgroup_inner_[cgroup_id] = Inner{capacity};
  return absl::OkStatus();
}

absl::Status FilterMaps::CreatePolicy(uint32_t policy_id) {
  if (content_.policies.count(policy_id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("policy id ", policy_id, " already has an entry in policy_filter_maps"));
  }
  if (policy_id != all_pods_id_ && agent_policy_map_.valid()) {
    uint32_t inner_id = 0;
    if (bpf_map_lookup_elem(agent_policy_map_.get(), &policy_id, &inner_id) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "policy id ", policy_id, " is a Tetragon agent's (a key of ", agent_dir_, "/",
          kPolicyFilterMapName, ")"));
    }
  }
  if (use_bpf_) {
    if (content_.policies.size() >= max_policies_ + 1) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "policy_filter_maps is full (", content_.policies.size(), " policies)"));
    }
    TGD_RETURN_IF_ERROR(MaybeFlush());
    uint32_t cap = std::min(kInitialPolicyInner, max_cgroups_per_policy_);
    TGD_ASSIGN_OR_RETURN(FileDescriptor fd, NewInner(true, policy_id, cap));
    TGD_RETURN_IF_ERROR(PutInner(policy_map_.get(), &pending_policy_, policy_id, std::move(fd), BPF_NOEXIST,
                                 absl::StrCat("insert policy ", policy_id, " in policy_filter_maps")));
    policy_inner_[policy_id] = Inner{cap};
  }
  content_.policies[policy_id];
  return absl::OkStatus();
}

absl::Status FilterMaps::DeletePolicy(uint32_t policy_id) {
  auto it = content_.policies.find(policy_id);
  if (it == content_.policies.end()) return absl::OkStatus();
  if (!it->second.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("policy ", policy_id, " still has ", it->second.size(), " cgroups"));
  }
  if (use_bpf_) {
    TGD_RETURN_IF_ERROR(DeleteOuter(policy_map_.get(), &pending_policy_, policy_id,
                                    absl::StrCat("delete policy ", policy_id, " from policy_filter_maps")));
  }
  policy_inner_.erase(policy_id);
  content_.policies.erase(it);
  return absl::OkStatus();
}

absl::Status FilterMaps::AddPair(uint32_t policy_id, uint64_t cgroup_id) {
  auto pit = content_.policies.find(policy_id);
  if (pit == content_.policies.end()) {
    return absl::FailedPreconditionError(absl::StrCat("policy ", policy_id, " has no map entry"));
  }
  if (pit->second.count(cgroup_id)) return absl::OkStatus();
  auto row = content_.cgroups.find(cgroup_id);
  size_t row_size = row == content_.cgroups.end() ? 0 : row->second.size();
  if (pit->second.size() + 1 > max_cgroups_per_policy_) {
    return absl::ResourceExhaustedError(absl::StrCat("policy ", policy_id, " already applies to ",
                                                     pit->second.size(),
                                                     " cgroups (max_cgroups_per_policy)"));
  }
  if (row_size + 1 > max_policies_per_cgroup_) {
    return absl::ResourceExhaustedError(absl::StrCat("cgroup ", cgroup_id, " already has ",
                                                     row_size,
                                                     " policies (max_policies_per_cgroup)"));
  }
  if (row_size == 0 && cgroup_id != POLICY_FILTER_HOST_CGROUP_KEY &&
      content_.cgroups.size() >= max_cgroups_ + 1) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "policy_filter_cgroup_maps is full (", content_.cgroups.size(), " cgroups)"));
  }
  if (use_bpf_) {
    TGD_RETURN_IF_ERROR(MaybeFlush());
    uint8_t zero = 0;
    Inner& pin = policy_inner_[policy_id];
    if (pit->second.size() + 1 > pin.capacity) {
      TGD_RETURN_IF_ERROR(ResizePolicy(
          policy_id, GrowTo(pin.capacity, pit->second.size() + 1, max_cgroups_per_policy_,
                            kInitialPolicyInner)));
    }
    // Inner maps are opened when used, never held: 10,000 policies and
    // their cgroups would otherwise hold 20,000 fds.
    FileDescriptor policy_inner;
    TGD_ASSIGN_OR_RETURN(int pfd, PolicyInnerFd(policy_id, &policy_inner));
    if (bpf_map_update_elem(pfd, &cgroup_id, &zero, BPF_ANY) != 0) {
      return MapError(errno, absl::StrCat("add cgroup ", cgroup_id, " to policy ", policy_id));
    }
    absl::Status st;
    if (row_size == 0) {
      uint32_t cap = std::min(kInitialCgroupInner, max_policies_per_cgroup_);
      auto fd = NewInner(false, cgroup_id, cap);
      if (!fd.ok()) {
        st = fd.status();
      } else if (bpf_map_update_elem(fd->get(), &policy_id, &zero, BPF_ANY) != 0) {
        st = MapError(errno, "fill cgroup inner map");
      } else {
        st = PutInner(cgroup_map_.get(), &pending_cgroup_, cgroup_id, *std::move(fd), BPF_NOEXIST,
                      absl::StrCat("insert cgroup ", cgroup_id, " in policy_filter_cgroup_maps"));
        if (st.ok()) cgroup_inner_[cgroup_id] = Inner{cap};
      }
    } else {
      Inner& cin = cgroup_inner_[cgroup_id];
      if (row_size + 1 > cin.capacity) {
        st = ResizeCgroup(cgroup_id, GrowTo(cin.capacity, row_size + 1, max_policies_per_cgroup_,
                                            kInitialCgroupInner));
      }
      if (st.ok()) {
        FileDescriptor holder;
        auto row_fd = CgroupInnerFd(cgroup_id, &holder);
        if (!row_fd.ok()) {
          st = row_fd.status();
        } else if (bpf_map_update_elem(*row_fd, &policy_id, &zero, BPF_ANY) != 0) {
          st = MapError(errno, absl::StrCat("add policy ", policy_id, " to cgroup ", cgroup_id));
        }
      }
    }
    if (!st.ok()) {
      bpf_map_delete_elem(pfd, &cgroup_id);  // undo the first half
      return st;
    }
  }
  pit->second.insert(cgroup_id);
  content_.cgroups[cgroup_id].insert(policy_id);
  return absl::OkStatus();
}

absl::Status FilterMaps::DelPair(uint32_t policy_id, uint64_t cgroup_id) {
  auto pit = content_.policies.find(policy_id);
  if (pit == content_.policies.end() || !pit->second.count(cgroup_id)) return absl::OkStatus();
  std::set<uint32_t>& row = content_.cgroups[cgroup_id];
  if (use_bpf_) {
    TGD_RETURN_IF_ERROR(MaybeFlush());
    FileDescriptor policy_inner;
    TGD_ASSIGN_OR_RETURN(int pfd, PolicyInnerFd(policy_id, &policy_inner));
    if (bpf_map_delete_elem(pfd, &cgroup_id) != 0 && errno != ENOENT) {
      return MapError(errno, absl::StrCat("delete cgroup ", cgroup_id, " from policy ", policy_id));
    }
    int err = 0;
    if (row.size() == 1) {
      absl::Status st = DeleteOuter(cgroup_map_.get(), &pending_cgroup_, cgroup_id,
                                    absl::StrCat("delete cgroup ", cgroup_id, " from policy_filter_cgroup_maps"));
      if (!st.ok()) {
        err = EIO;
        LOG(ERROR) << "policy filter: " << st;
      }
    } else {
      FileDescriptor holder;
      auto row_fd = CgroupInnerFd(cgroup_id, &holder);
      if (!row_fd.ok()) {
        err = EIO;
        LOG(ERROR) << "policy filter: cgroup " << cgroup_id << " row: " << row_fd.status();
      } else if (bpf_map_delete_elem(*row_fd, &policy_id) != 0 && errno != ENOENT) {
        err = errno;
      }
    }
    if (err != 0) {
      uint8_t zero = 0;
      bpf_map_update_elem(pfd, &cgroup_id, &zero, BPF_ANY);  // undo the first half
      return MapError(err, absl::StrCat("delete policy ", policy_id, " from cgroup ", cgroup_id));
    }
  }
  pit->second.erase(cgroup_id);
  row.erase(policy_id);
  if (row.empty()) {
    content_.cgroups.erase(cgroup_id);
    cgroup_inner_.erase(cgroup_id);
  }
  if (use_bpf_) {
    // Shrink with hysteresis so that walks over the inner maps stay cheap.
    // A failed shrink leaves a correct, larger map: only log it.
    Inner& pin = policy_inner_[policy_id];
    if (pin.capacity > kInitialPolicyInner && pit->second.size() * 4 < pin.capacity) {
      if (auto st = ResizePolicy(policy_id, pin.capacity / 2); !st.ok()) LOG(WARNING) << st;
    }
    auto cit = cgroup_inner_.find(cgroup_id);
    if (cit != cgroup_inner_.end() && cit->second.capacity > kInitialCgroupInner &&
        content_.cgroups[cgroup_id].size() * 4 < cit->second.capacity) {
      if (auto st = ResizeCgroup(cgroup_id, cit->second.capacity / 2); !st.ok()) {
        LOG(WARNING) << st;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tgd
