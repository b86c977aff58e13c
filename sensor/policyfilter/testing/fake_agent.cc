// FakeTetragonAgent implementation: upstream's map operations, one kernel
// call at a time, each deciding from what the kernel holds now.
#include "sensor/policyfilter/testing/fake_agent.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "compat/policyfilter/policy_filter.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"

namespace tgd::testing {
namespace {

constexpr uint32_t kAllPods =
    1;  // upstream's ALL_PODS_POLICY_ID / AllPodsPolicyID
constexpr uint64_t kHost = POLICY_FILTER_HOST_CGROUP_KEY;

// An inner HASH as upstream makes them: no flags (preallocated).
absl::StatusOr<FileDescriptor> NewHash(const std::string& name, uint32_t key,
                                       uint32_t max) {
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, name.substr(0, 15).c_str(), key, 1,
                          max, nullptr);
  if (fd < 0) return ErrnoStatus(errno, "create " + name);
  return FileDescriptor(fd);
}

absl::StatusOr<FileDescriptor> NewOuter(const char* name, uint32_t key,
                                        uint32_t inner_key, uint32_t inner_max,
                                        uint32_t max) {
  TGD_ASSIGN_OR_RETURN(FileDescriptor tmpl,
                       NewHash("tmpl", inner_key, inner_max));
  LIBBPF_OPTS(bpf_map_create_opts, o,
              .inner_map_fd = static_cast<__u32>(tmpl.get()));
  std::string short_name = std::string(name).substr(0, 15);
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH_OF_MAPS, short_name.c_str(), key, 4,
                          max, &o);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create ", name));
  return FileDescriptor(fd);
}

// The inner map of `key` in `outer`, opened now; NOT_FOUND when absent.
absl::StatusOr<FileDescriptor> OpenInner(int outer, const void* key) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(outer, key, &id) != 0)
    return ErrnoStatus(errno, "outer lookup");
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) return ErrnoStatus(errno, "open inner map");
  return FileDescriptor(fd);
}

bool InnerEmpty(int fd) {
  uint32_t key = 0;
  return bpf_map_get_next_key(fd, nullptr, &key) != 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeTetragonAgent>> FakeTetragonAgent::Create(
    const FakeAgentOptions& o) {
  std::unique_ptr<FakeTetragonAgent> a(new FakeTetragonAgent());
  a->dir_ = o.dir;
  a->all_pods_ = o.all_pods;
  TGD_ASSIGN_OR_RETURN(a->policy_map_,
                       NewOuter(kPolicyFilterMapName, 4, 8,
                                TG_POLICY_FILTER_MAX_CGROUPS_PER_POLICY,
                                TG_POLICY_FILTER_MAX_POLICIES));
  std::string pin = o.dir + "/" + kPolicyFilterMapName;
  unlink(pin.c_str());
  if (bpf_obj_pin(a->policy_map_.get(), pin.c_str()) != 0)
    return ErrnoStatus(errno, "pin " + pin);
  if (o.cgroup_map) {
    TGD_ASSIGN_OR_RETURN(a->cgroup_map_,
                         NewOuter(kPolicyFilterCgroupMapName, 8, 4,
                                  TG_POLICY_FILTER_MAX_POLICIES_PER_CGROUP,
                                  TG_POLICY_FILTER_MAX_CGROUP_IDS));
    pin = o.dir + "/" + kPolicyFilterCgroupMapName;
    unlink(pin.c_str());
    if (bpf_obj_pin(a->cgroup_map_.get(), pin.c_str()) != 0) {
      return ErrnoStatus(errno, "pin " + pin);
    }
  }
  if (o.cgtracker) {
    int fd = bpf_map_create(BPF_MAP_TYPE_HASH, kCgtrackerMapName, 8, 8,
                            TG_CGTRACKER_MAX_ENTRIES, nullptr);
    if (fd < 0) return ErrnoStatus(errno, "create tg_cgtracker_map");
    a->cgtracker_.Reset(fd);
    pin = o.dir + "/" + kCgtrackerMapName;
    unlink(pin.c_str());
    if (bpf_obj_pin(fd, pin.c_str()) != 0)
      return ErrnoStatus(errno, "pin " + pin);
  }
  if (a->all_pods_) TGD_RETURN_IF_ERROR(a->NewPolicyMap(kAllPods, {}));
  return a;
}

FakeTetragonAgent::~FakeTetragonAgent() {
  for (const char* name :
       {kPolicyFilterMapName, kPolicyFilterCgroupMapName, kCgtrackerMapName}) {
    unlink((dir_ + "/" + name).c_str());
  }
}

bool FakeTetragonAgent::Matches(const Policy& p, const Pod& pod) const {
  if (p.host && !p.app)
    return false;  // hostSelector without podSelector: no pod
  return !p.app || *p.app == pod.app;
}

// newPolicyMap: a fresh inner map with the cgroups, inserted if absent (an
// existing id is an error), then the reverse rows.
absl::Status FakeTetragonAgent::NewPolicyMap(
    uint32_t id, const std::set<uint64_t>& cgroups) {
  TGD_ASSIGN_OR_RETURN(FileDescriptor inner,
                       NewHash(absl::StrCat("policy_", id, "_map"), 8,
                               TG_POLICY_FILTER_MAX_CGROUPS_PER_POLICY));
  uint8_t zero = 0;
  for (uint64_t cg : cgroups) {
    if (bpf_map_update_elem(inner.get(), &cg, &zero, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "policy inner update");
    }
  }
  uint32_t fd = inner.get();
  if (bpf_map_update_elem(policy_map_.get(), &id, &fd, BPF_NOEXIST) != 0) {
    return ErrnoStatus(errno, absl::StrCat("insert policy ", id));
  }
  for (uint64_t cg : cgroups) TGD_RETURN_IF_ERROR(AddPolicyIdMapping(id, cg));
  return absl::OkStatus();
}

// addPolicyIDMapping: the row found in the kernel, or a new one inserted if
// absent.
absl::Status FakeTetragonAgent::AddPolicyIdMapping(uint32_t id, uint64_t cg) {
  if (!cgroup_map_.valid()) return absl::OkStatus();
  uint8_t zero = 0;
  auto row = OpenInner(cgroup_map_.get(), &cg);
  if (row.ok()) {
    if (bpf_map_update_elem(row->get(), &id, &zero, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "cgroup row update");
    }
    return absl::OkStatus();
  }
  TGD_ASSIGN_OR_RETURN(FileDescriptor inner,
                       NewHash(absl::StrCat("cgroup_", cg, "_map"), 4,
                               TG_POLICY_FILTER_MAX_POLICIES_PER_CGROUP));
  if (bpf_map_update_elem(inner.get(), &id, &zero, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "cgroup row update");
  }
  uint32_t fd = inner.get();
  if (bpf_map_update_elem(cgroup_map_.get(), &cg, &fd, BPF_NOEXIST) != 0) {
    return ErrnoStatus(errno, absl::StrCat("insert cgroup row ", cg));
  }
  return absl::OkStatus();
}

absl::Status FakeTetragonAgent::AddCgroupsToPolicy(
    uint32_t id, const std::set<uint64_t>& cgroups) {
  TGD_ASSIGN_OR_RETURN(FileDescriptor inner, OpenInner(policy_map_.get(), &id));
  uint8_t zero = 0;
  for (uint64_t cg : cgroups) {
    if (bpf_map_update_elem(inner.get(), &cg, &zero, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "policy inner update");
    }
  }
  for (uint64_t cg : cgroups) TGD_RETURN_IF_ERROR(AddPolicyIdMapping(id, cg));
  return absl::OkStatus();
}

// delCgroupIDs: out of the policy's inner map, then out of each row found in
// the kernel, deleting a row whose inner map is then empty.
absl::Status FakeTetragonAgent::DelCgroupsFromPolicy(
    uint32_t id, const std::set<uint64_t>& cgroups) {
  TGD_ASSIGN_OR_RETURN(FileDescriptor inner, OpenInner(policy_map_.get(), &id));
  for (uint64_t cg : cgroups) {
    if (bpf_map_delete_elem(inner.get(), &cg) != 0) {
      return ErrnoStatus(
          errno, absl::StrCat("delete cgroup ", cg, " from policy ", id));
    }
  }
  if (!cgroup_map_.valid()) return absl::OkStatus();
  for (uint64_t cg : cgroups) {
    auto row = OpenInner(cgroup_map_.get(), &cg);
    if (!row.ok()) continue;
    uint8_t v = 0;
    if (bpf_map_lookup_elem(row->get(), &id, &v) != 0) continue;
    bpf_map_delete_elem(row->get(), &id);
    if (InnerEmpty(row->get())) bpf_map_delete_elem(cgroup_map_.get(), &cg);
  }
  return absl::OkStatus();
}

// deletePolicyIDInCgroupMap: every row, then the rows left empty.
absl::Status FakeTetragonAgent::DeletePolicyIdInCgroupMap(uint32_t id) {
  if (!cgroup_map_.valid()) return absl::OkStatus();
  std::vector<uint64_t> empty;
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(cgroup_map_.get(), prev, &next) == 0) {
    auto row = OpenInner(cgroup_map_.get(), &next);
    if (row.ok()) {
      bpf_map_delete_elem(row->get(), &id);
      if (InnerEmpty(row->get())) empty.push_back(next);
    }
    key = next;
    prev = &key;
  }
  for (uint64_t cg : empty) bpf_map_delete_elem(cgroup_map_.get(), &cg);
  return absl::OkStatus();
}

absl::Status FakeTetragonAgent::AddPolicy(uint32_t id,
                                          std::optional<std::string> app,
                                          bool host) {
  if (id < 2 || policies_.count(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fake agent: policy id ", id));
  }
  Policy p{std::move(app), host};
  std::set<uint64_t> cgs;
  for (const auto& [name, pod] : pods_) {
    if (Matches(p, pod)) cgs.insert(pod.cgroup);
  }
  TGD_RETURN_IF_ERROR(NewPolicyMap(id, cgs));
  if (host) {
    TGD_ASSIGN_OR_RETURN(FileDescriptor inner,
                         OpenInner(policy_map_.get(), &id));
    uint8_t zero = 0;
    if (bpf_map_update_elem(inner.get(), &kHost, &zero, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "hostSelector key");
    }
  }
  policies_[id] = std::move(p);
  return absl::OkStatus();
}

absl::Status FakeTetragonAgent::DelPolicy(uint32_t id) {
  if (!policies_.erase(id)) return absl::OkStatus();
  bpf_map_delete_elem(policy_map_.get(), &id);
  return DeletePolicyIdInCgroupMap(id);
}

absl::Status FakeTetragonAgent::AddPod(const std::string& name,
                                       const std::string& app,
                                       uint64_t cgroup) {
  if (pods_.count(name))
    return absl::InvalidArgumentError("fake agent: pod " + name);
  Pod pod{app, cgroup};
  if (all_pods_) TGD_RETURN_IF_ERROR(AddCgroupsToPolicy(kAllPods, {cgroup}));
  for (const auto& [id, p] : policies_) {
    if (Matches(p, pod)) TGD_RETURN_IF_ERROR(AddCgroupsToPolicy(id, {cgroup}));
  }
  if (cgtracker_.valid())
    bpf_map_update_elem(cgtracker_.get(), &cgroup, &cgroup, BPF_ANY);
  pods_[name] = pod;
  return absl::OkStatus();
}

absl::Status FakeTetragonAgent::DelPod(const std::string& name) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return absl::OkStatus();
  Pod pod = it->second;
  pods_.erase(it);
  if (all_pods_)
    TGD_RETURN_IF_ERROR(DelCgroupsFromPolicy(kAllPods, {pod.cgroup}));
  for (const auto& [id, p] : policies_) {
    if (Matches(p, pod))
      TGD_RETURN_IF_ERROR(DelCgroupsFromPolicy(id, {pod.cgroup}));
  }
  return absl::OkStatus();
}

PolicyFilterContent FakeTetragonAgent::Expected() const {
  PolicyFilterContent c;
  if (all_pods_) {
    auto& all = c.policies[kAllPods];
    for (const auto& [name, pod] : pods_) all.insert(pod.cgroup);
  }
  for (const auto& [id, p] : policies_) {
    auto& cgs = c.policies[id];
    for (const auto& [name, pod] : pods_) {
      if (Matches(p, pod)) cgs.insert(pod.cgroup);
    }
    if (p.host) cgs.insert(kHost);
  }
  if (cgroup_map_.valid()) {
    for (const auto& [id, cgs] : c.policies) {
      for (uint64_t cg : cgs) {
        if (cg != kHost) c.cgroups[cg].insert(id);
      }
    }
  }
  return c;
}

absl::StatusOr<PolicyFilterContent> FakeTetragonAgent::Read() const {
  return ReadPolicyFilterMaps(policy_map_.get(), cgroup_map_fd());
}

}  // namespace tgd::testing
