// PolicyFilterState implementation. The in-memory registry (policies, pods)
// decides the desired content; FilterMaps holds the actual content. Changes
// are computed per cgroup row (containers) or per policy column (policies)
// and applied through a journal that is undone on the first failure.
#include "sensor/policyfilter/policy_filter_state.h"

#include "absl/cleanup/cleanup.h"

#include <glog/logging.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compat/policyfilter/policy_filter.h"
#include "sensor/base/status_macros.h"
#include "sensor/policyfilter/cgroup_tracker.h"

namespace tgd {

static_assert(kAllPodsPolicyId == POLICY_FILTER_ID_ALL_PODS);
static_assert(kTetragonAllPodsPolicyId == TG_POLICY_FILTER_ID_ALL_PODS);
static_assert(kUnfilteredPolicyId == POLICY_FILTER_ID_UNFILTERED);
static_assert(kHostSelectorCgroupKey == POLICY_FILTER_HOST_CGROUP_KEY);

// A journal of primitive map changes; Rollback() undoes them newest first.
class PolicyFilterState::Txn {
 public:
  explicit Txn(FilterMaps* maps) : maps_(maps) {}
  ~Txn() {
    if (!done_) Rollback();
  }

  absl::Status CreatePolicy(uint32_t p) {
    TGD_RETURN_IF_ERROR(maps_->CreatePolicy(p));
    ops_.push_back({Op::kCreatePolicy, p, 0});
    return absl::OkStatus();
  }
  absl::Status DeletePolicy(uint32_t p) {
    TGD_RETURN_IF_ERROR(maps_->DeletePolicy(p));
    ops_.push_back({Op::kDeletePolicy, p, 0});
    return absl::OkStatus();
  }
  absl::Status AddPair(uint32_t p, uint64_t cg) {
    TGD_RETURN_IF_ERROR(maps_->AddPair(p, cg));
    ops_.push_back({Op::kAddPair, p, cg});
    changed_.insert(cg);
    return absl::OkStatus();
  }
  absl::Status DelPair(uint32_t p, uint64_t cg) {
    TGD_RETURN_IF_ERROR(maps_->DelPair(p, cg));
    ops_.push_back({Op::kDelPair, p, cg});
    changed_.insert(cg);
    return absl::OkStatus();
  }
  std::vector<uint64_t> Commit() {
    done_ = true;
    return std::vector<uint64_t>(changed_.begin(), changed_.end());
  }
  void Rollback() {
    done_ = true;
    for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
      absl::Status st;
      switch (it->kind) {
        case Op::kCreatePolicy:
          st = maps_->DeletePolicy(it->policy);
          break;
        case Op::kDeletePolicy:
          st = maps_->CreatePolicy(it->policy);
          break;
        case Op::kAddPair:
          st = maps_->DelPair(it->policy, it->cgroup);
          break;
        case Op::kDelPair:
          st = maps_->AddPair(it->policy, it->cgroup);
          break;
      }
      if (!st.ok()) LOG(ERROR) << "policy filter rollback step failed: " << st;
    }
    ops_.clear();
  }

 private:
  FilterMaps* maps_;
  std::vector<Op> ops_;
  std::set<uint64_t> changed_;
  bool done_ = false;
};

absl::StatusOr<std::unique_ptr<PolicyFilterState>> PolicyFilterState::Create(
    const PolicyFilterOptions& o) {
  std::unique_ptr<PolicyFilterState> s(new PolicyFilterState());
  FilterMapsOptions mo;
  mo.bpf_dir = o.bpf_dir;
  mo.tetragon_bpf_dir = o.tetragon_bpf_dir;
  mo.max_policies = o.max_policies;
  mo.max_cgroups = o.max_cgroups;
  mo.max_policies_per_cgroup = o.max_policies_per_cgroup;
  mo.max_cgroups_per_policy = o.max_cgroups_per_policy;
  mo.use_bpf = o.use_bpf;
  mo.defer_outer_writes = o.defer_map_writes;
  TGD_ASSIGN_OR_RETURN(auto maps, FilterMaps::Create(mo));
  s->all_pods_id_ = maps->all_pods_id();
  {
    absl::MutexLock l(&s->mu_);
    s->maps_ = std::move(maps);
  }
  if (o.use_bpf && o.cgroup_tracker) {
    CgroupTrackerOptions to;
    to.pin_dir = o.bpf_dir;
    to.tetragon_bpf_dir = o.tetragon_bpf_dir;
    to.max_entries = std::max<uint32_t>(4 * o.max_cgroups, TG_CGTRACKER_MAX_ENTRIES);
    to.load_program = o.cgtracker_program;
    TGD_ASSIGN_OR_RETURN(s->tracker_, CgroupTracker::Create(to));
  }
  if (s->maps_->deferred()) s->flusher_ = std::thread([p = s.get()] { p->FlushLoop(); });
  return s;
}

void PolicyFilterState::FlushLoop() {
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_flusher_ || maps_->pending() > 0; };
      mu_.Await(absl::Condition(&work));
      if (stop_flusher_) return;
    }
    absl::SleepFor(kDeferredFlushDelay);  // a burst of changes goes in one batch
    std::shared_ptr<const FilterMaps::Batch> batch;
    {
      absl::MutexLock l(&mu_);
      if (stop_flusher_) return;
      batch = maps_->TakeBatch();
    }
    if (!batch) continue;
    // Without the lock: the grace periods of these writes hold up no change.
    if (absl::Status st = maps_->ApplyBatch(*batch); !st.ok()) {
      LOG(ERROR) << "policy filter maps: deferred writes: " << st;
    }
    absl::MutexLock l(&mu_);
    maps_->FinishBatch();
  }
}

void PolicyFilterState::WaitMapsWritten() {
  absl::MutexLock l(&mu_);
  if (!maps_->deferred()) return;
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_flusher_ || (maps_->pending() == 0 && !maps_->batch_in_flight());
  };
  mu_.Await(absl::Condition(&done));
}

// Beside a Tetragon agent nothing of ours is in the agent's maps: closing
// our maps (unpinned by FilterMaps) is all there is to take away.
PolicyFilterState::~PolicyFilterState() {
  if (flusher_.joinable()) {
    {
      absl::MutexLock l(&mu_);
      stop_flusher_ = true;
    }
    flusher_.join();
  }
}

PolicyFilterState::Pod PolicyFilterState::NewPod(const PodInfo& info) {
  Pod p;
  p.info = info;
  p.match_labels = info.labels;
  p.match_labels.emplace(kPodNamespaceLabel, info.ns);  // keeps an explicit label
  return p;
}

bool PolicyFilterState::PodMatches(const Policy& p, const Pod& pod) const {
  if (!p.ns.empty() && pod.info.ns != p.ns) return false;
  if (!p.pod_selector) return !p.host;
  return labels::Matches(*p.pod_selector, pod.match_labels);
}

bool PolicyFilterState::ContainerMatches(const Policy& p, const ContainerInfo& c) const {
  if (!p.container_selector) return !p.host;
  return labels::Matches(*p.container_selector, {{"name", c.name}, {"repo", c.repo}});
}

namespace {

std::string NamespaceIndexKey(const std::string& ns) { return absl::StrCat("ns\n", ns); }
std::string LabelIndexKey(const std::string& key, const std::string& value) {
  return absl::StrCat("label\n", key, "\n", value);
}

}  // namespace

void PolicyFilterState::IndexPod(const std::string& uid, const Pod& pod, bool add) {
  auto apply = [&](std::string key) {
    if (add) {
      pod_index_[key].insert(uid);
      return;
    }
    auto it = pod_index_.find(key);
    if (it == pod_index_.end()) return;
    it->second.erase(uid);
    if (it->second.empty()) pod_index_.erase(it);
  };
  apply(NamespaceIndexKey(pod.info.ns));
  for (const auto& [k, v] : pod.match_labels) apply(LabelIndexKey(k, v));
}

void PolicyFilterState::SetPodInfo(const std::string& uid, Pod& pod, const PodInfo& info) {
  IndexPod(uid, pod, false);
  Pod fresh = NewPod(info);
  pod.info = std::move(fresh.info);
  pod.match_labels = std::move(fresh.match_labels);
  IndexPod(uid, pod, true);
}

const absl::flat_hash_set<std::string>* PolicyFilterState::CandidatePods(
    const Policy& p, absl::flat_hash_set<std::string>* scratch) const {
  static const absl::flat_hash_set<std::string>* const kNone = new absl::flat_hash_set<std::string>();
  const absl::flat_hash_set<std::string>* best = nullptr;
  auto consider = [&](const absl::flat_hash_set<std::string>* set) {
    if (best == nullptr || set->size() < best->size()) best = set;
  };
  auto lookup = [&](const std::string& key) {
    auto it = pod_index_.find(key);
    return it == pod_index_.end() ? kNone : &it->second;
  };
  if (!p.ns.empty()) consider(lookup(NamespaceIndexKey(p.ns)));
  if (!p.pod_selector) return best;
  for (const auto& [k, v] : p.pod_selector->match_labels) consider(lookup(LabelIndexKey(k, v)));
  // One `In` requirement (the smallest union) narrows further when nothing
  // above did already.
  for (const labels::Requirement& r : p.pod_selector->match_expressions) {
    if (r.op != labels::Operator::kIn) continue;
    size_t n = 0;
    for (const std::string& v : r.values) n += lookup(LabelIndexKey(r.key, v))->size();
    if (best != nullptr && n >= best->size()) continue;
    scratch->clear();
    for (const std::string& v : r.values) {
      const auto* s = lookup(LabelIndexKey(r.key, v));
      scratch->insert(s->begin(), s->end());
    }
    best = scratch;
  }
  return best;
}

std::set<uint64_t> PolicyFilterState::DesiredCgroupsOf(uint32_t policy_id, const Policy& p) const {
  std::set<uint64_t> out;
  auto visit = [&](const Pod& pod) {
    if (!PodMatches(p, pod)) return;
    for (const ContainerInfo& c : pod.containers) {
      if (ContainerMatches(p, c)) out.insert(c.cgroup_id);
    }
  };
  absl::flat_hash_set<std::string> scratch;
  if (const absl::flat_hash_set<std::string>* uids = CandidatePods(p, &scratch)) {
    for (const std::string& uid : *uids) {
      if (auto it = pods_.find(uid); it != pods_.end()) visit(it->second);
    }
  } else {
    for (const auto& [uid, pod] : pods_) visit(pod);
  }
  if (p.host) out.insert(kHostSelectorCgroupKey);
  return out;
}

std::set<uint32_t> PolicyFilterState::DesiredPoliciesOf(uint64_t cgroup_id) const {
  std::set<uint32_t> out;
  auto uids = cgroup_pods_.find(cgroup_id);
  if (uids == cgroup_pods_.end()) return out;
  std::set<std::string> seen;
  for (const std::string& uid : uids->second) {
    if (!seen.insert(uid).second) continue;
    auto pod = pods_.find(uid);
    if (pod == pods_.end()) continue;
    for (const ContainerInfo& c : pod->second.containers) {
      if (c.cgroup_id != cgroup_id) continue;
      out.insert(all_pods_id_);
      for (const auto& [id, p] : policies_) {
        if (PodMatches(p, pod->second) && ContainerMatches(p, c)) out.insert(id);
      }
    }
  }
  return out;
}

absl::Status PolicyFilterState::SyncCgroup(uint64_t cgroup_id, Txn& txn) {
  std::set<uint32_t> desired = DesiredPoliciesOf(cgroup_id);
  std::set<uint32_t> current;
  if (auto it = maps_->content().cgroups.find(cgroup_id); it != maps_->content().cgroups.end()) {
    current = it->second;
  }
  for (uint32_t p : current) {
    bool ours = p == all_pods_id_ || policies_.count(p);
    if (ours && !desired.count(p)) TGD_RETURN_IF_ERROR(txn.DelPair(p, cgroup_id));
  }
  for (uint32_t p : desired) {
    if (!current.count(p)) TGD_RETURN_IF_ERROR(txn.AddPair(p, cgroup_id));
  }
  return absl::OkStatus();
}

void PolicyFilterState::IndexContainer(uint64_t cgroup_id, const std::string& pod_uid, int delta) {
  int& n = cgroup_refs_[cgroup_id];
  n += delta;
  if (n <= 0) cgroup_refs_.erase(cgroup_id);
  if (delta > 0) {
    cgroup_pods_[cgroup_id].push_back(pod_uid);
    return;
  }
  auto it = cgroup_pods_.find(cgroup_id);
  if (it == cgroup_pods_.end()) return;
  std::vector<std::string>& uids = it->second;
  if (auto u = std::find(uids.begin(), uids.end(), pod_uid); u != uids.end()) uids.erase(u);
  if (uids.empty()) cgroup_pods_.erase(it);
}

namespace {

absl::Status CheckSelector(const std::optional<LabelSelector>& s, const char* field) {
  if (!s) return absl::OkStatus();
  absl::Status st = labels::Validate(*s);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ".", st.message()));
  return absl::OkStatus();
}

absl::Status CheckContainer(const ContainerInfo& c) {
  if (c.id.empty()) return absl::InvalidArgumentError("container id: empty");
  if (c.cgroup_id == 0) {
    return absl::InvalidArgumentError(absl::StrCat("container ", c.id, ": cgroup id 0"));
  }
  if (c.cgroup_id == kHostSelectorCgroupKey) {
    return absl::InvalidArgumentError(
        absl::StrCat("container ", c.id, ": cgroup id UINT64_MAX is reserved (hostSelector)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PolicyFilterState::AddPolicy(uint32_t policy_id, const std::string& ns,
                                          const std::optional<LabelSelector>& pod_selector,
                                          const std::optional<LabelSelector>& container_selector,
                                          const std::optional<LabelSelector>& host_selector) {
  if (policy_id == kUnfilteredPolicyId || policy_id == all_pods_id_) {
    return absl::InvalidArgumentError(absl::StrCat("policy id ", policy_id, " is reserved (0 = unfiltered, ",
                                                   all_pods_id_, " = all pods)"));
  }
  TGD_RETURN_IF_ERROR(CheckSelector(pod_selector, "podSelector"));
  TGD_RETURN_IF_ERROR(CheckSelector(container_selector, "containerSelector"));
  if (host_selector && !host_selector->empty()) {
    return absl::InvalidArgumentError(
        "hostSelector: only an empty selector ({}, all host workloads) is supported");
  }
  Policy p{ns, pod_selector, container_selector, host_selector.has_value()};
  std::vector<uint64_t> changed;
  {
    absl::MutexLock l(&mu_);
    if (policies_.count(policy_id)) {
      return absl::AlreadyExistsError(absl::StrCat("policy id ", policy_id, " already exists"));
    }
    Txn txn(maps_.get());
    TGD_RETURN_IF_ERROR(txn.CreatePolicy(policy_id));
    for (uint64_t cg : DesiredCgroupsOf(policy_id, p)) {
      TGD_RETURN_IF_ERROR(txn.AddPair(policy_id, cg));
    }
    policies_[policy_id] = std::move(p);
    changed = txn.Commit();
  }
  Notify(std::move(changed));
  return absl::OkStatus();
}

absl::Status PolicyFilterState::DelPolicy(uint32_t policy_id) {
  if (policy_id == kUnfilteredPolicyId) return absl::OkStatus();
  if (policy_id == all_pods_id_) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy id ", policy_id, " (all pods) is reserved and cannot be deleted"));
  }
  std::vector<uint64_t> changed;
  {
    absl::MutexLock l(&mu_);
    auto it = policies_.find(policy_id);
    if (it == policies_.end()) {
      VLOG(1) << "DelPolicy: unknown policy id " << policy_id;
      return absl::OkStatus();
    }
    Txn txn(maps_.get());
    std::set<uint64_t> cgs = maps_->content().policies.at(policy_id);
    for (uint64_t cg : cgs) TGD_RETURN_IF_ERROR(txn.DelPair(policy_id, cg));
    TGD_RETURN_IF_ERROR(txn.DeletePolicy(policy_id));
    policies_.erase(it);
    changed = txn.Commit();
  }
  Notify(std::move(changed));
  return absl::OkStatus();
}

absl::Status PolicyFilterState::AddPodContainer(const PodInfo& pod, const ContainerInfo& c) {
  absl::Cleanup bump = [this] { pod_version_.fetch_add(1, std::memory_order_release); };
  if (pod.uid.empty()) return absl::InvalidArgumentError("pod uid: empty");
  TGD_RETURN_IF_ERROR(CheckContainer(c));
  std::vector<uint64_t> changed;
  bool track = false;
  {
    absl::MutexLock l(&mu_);
    auto it = pods_.find(pod.uid);
    bool created = it == pods_.end();
    if (created) {
      it = pods_.emplace(pod.uid, NewPod(pod)).first;
      IndexPod(pod.uid, it->second, true);
    } else if (it->second.info.ns != pod.ns) {
      return absl::FailedPreconditionError(absl::StrCat("pod ", pod.uid, ": namespace \"", pod.ns,
                                                        "\" conflicts with known namespace \"",
                                                        it->second.info.ns, "\""));
    }
    Pod& p = it->second;
    for (const ContainerInfo& old : p.containers) {
      if (old.id == c.id && old.cgroup_id == c.cgroup_id) return absl::OkStatus();
      if (old.id == c.id) {
        LOG(WARNING) << "AddPodContainer: pod " << pod.uid << " container " << c.id
                     << " now has cgroup id " << c.cgroup_id << " (was " << old.cgroup_id
                     << "); keeping both, as upstream";
      }
    }
    p.containers.push_back(c);
    IndexContainer(c.cgroup_id, pod.uid, +1);
    Txn txn(maps_.get());
    absl::Status st = SyncCgroup(c.cgroup_id, txn);
    if (!st.ok()) {
      txn.Rollback();
      p.containers.pop_back();
      IndexContainer(c.cgroup_id, pod.uid, -1);
      if (created) {
        IndexPod(pod.uid, it->second, false);
        pods_.erase(it);
      }
      return st;
    }
    track = cgroup_refs_[c.cgroup_id] == 1;
    changed = txn.Commit();
  }
  if (track && tracker_) {
    if (auto st = tracker_->Track(c.cgroup_id, c.cgroup_path); !st.ok()) {
      LOG(WARNING) << "cgroup tracker: container " << c.id << ": " << st;
    }
  }
  Notify(std::move(changed));
  return absl::OkStatus();
}

absl::Status PolicyFilterState::UpdatePod(const PodInfo& pod,
                                          const std::vector<ContainerInfo>& containers) {
  absl::Cleanup bump = [this] { pod_version_.fetch_add(1, std::memory_order_release); };
  if (pod.uid.empty()) return absl::InvalidArgumentError("pod uid: empty");
  std::set<std::string> ids;
  for (const ContainerInfo& c : containers) {
    TGD_RETURN_IF_ERROR(CheckContainer(c));
    if (!ids.insert(c.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod ", pod.uid, ": container id ", c.id, " listed twice"));
    }
  }
  std::vector<uint64_t> changed;
  std::vector<std::pair<uint64_t, std::string>> to_track;
  std::vector<uint64_t> to_untrack;
  {
    absl::MutexLock l(&mu_);
    auto it = pods_.find(pod.uid);
    bool created = it == pods_.end();
    Pod old;
    if (created) {
      it = pods_.emplace(pod.uid, NewPod(pod)).first;
      IndexPod(pod.uid, it->second, true);
    } else if (it->second.info.ns != pod.ns) {
      return absl::FailedPreconditionError(absl::StrCat("pod ", pod.uid, ": namespace \"", pod.ns,
                                                        "\" conflicts with known namespace \"",
                                                        it->second.info.ns, "\""));
    } else {
      old = it->second;
    }
    std::set<uint64_t> affected;
    for (const ContainerInfo& c : old.containers) {
      affected.insert(c.cgroup_id);
      IndexContainer(c.cgroup_id, pod.uid, -1);
    }
    for (const ContainerInfo& c : containers) {
      affected.insert(c.cgroup_id);
      IndexContainer(c.cgroup_id, pod.uid, +1);
    }
    SetPodInfo(pod.uid, it->second, pod);
    it->second.containers = containers;
    Txn txn(maps_.get());
    absl::Status st;
    for (uint64_t cg : affected) {
      st = SyncCgroup(cg, txn);
      if (!st.ok()) break;
    }
    if (!st.ok()) {
      txn.Rollback();
      for (const ContainerInfo& c : containers) IndexContainer(c.cgroup_id, pod.uid, -1);
      for (const ContainerInfo& c : old.containers) IndexContainer(c.cgroup_id, pod.uid, +1);
      IndexPod(pod.uid, it->second, false);
      if (created) {
        pods_.erase(it);
      } else {
        it->second = std::move(old);
        IndexPod(pod.uid, it->second, true);
      }
      return st;
    }
    std::set<uint64_t> old_cgs, new_cgs;
    for (const ContainerInfo& c : old.containers) old_cgs.insert(c.cgroup_id);
    for (const ContainerInfo& c : containers) {
      if (!old_cgs.count(c.cgroup_id) && cgroup_refs_[c.cgroup_id] == 1 &&
          new_cgs.insert(c.cgroup_id).second) {
        to_track.emplace_back(c.cgroup_id, c.cgroup_path);
      }
    }
    for (uint64_t cg : old_cgs) {
      if (!cgroup_refs_.count(cg)) to_untrack.push_back(cg);
    }
    changed = txn.Commit();
  }
  if (tracker_) {
    for (const auto& [cg, path] : to_track) {
      if (auto st = tracker_->Track(cg, path); !st.ok()) LOG(WARNING) << "cgroup tracker: " << st;
    }
    for (uint64_t cg : to_untrack) tracker_->Untrack(cg).IgnoreError();
  }
  Notify(std::move(changed));
  return absl::OkStatus();
}

absl::Status PolicyFilterState::DelPodContainer(const std::string& pod_uid,
                                                const std::string& container_id) {
  absl::Cleanup bump = [this] { pod_version_.fetch_add(1, std::memory_order_release); };
  std::vector<uint64_t> changed, to_untrack;
  {
    absl::MutexLock l(&mu_);
    auto it = pods_.find(pod_uid);
    if (it == pods_.end()) return absl::OkStatus();
    Pod old = it->second;
    std::vector<ContainerInfo>& cs = it->second.containers;
    std::set<uint64_t> affected;
    for (auto c = cs.begin(); c != cs.end();) {
      if (c->id == container_id) {
        affected.insert(c->cgroup_id);
        IndexContainer(c->cgroup_id, pod_uid, -1);
        c = cs.erase(c);
      } else {
        ++c;
      }
    }
    if (affected.empty()) return absl::OkStatus();
    Txn txn(maps_.get());
    for (uint64_t cg : affected) {
      absl::Status st = SyncCgroup(cg, txn);
      if (!st.ok()) {
        txn.Rollback();
        for (const ContainerInfo& c : old.containers) {
          if (c.id == container_id) IndexContainer(c.cgroup_id, pod_uid, +1);
        }
        it->second = std::move(old);
        return st;
      }
    }
    for (uint64_t cg : affected) {
      if (!cgroup_refs_.count(cg)) to_untrack.push_back(cg);
    }
    changed = txn.Commit();
  }
  if (tracker_) {
    for (uint64_t cg : to_untrack) tracker_->Untrack(cg).IgnoreError();
  }
  Notify(std::move(changed));
  return absl::OkStatus();
}

absl::Status PolicyFilterState::DelPod(const std::string& pod_uid) {
  absl::Cleanup bump = [this] { pod_version_.fetch_add(1, std::memory_order_release); };
  std::vector<uint64_t> changed, to_untrack;
  {
    absl::MutexLock l(&mu_);
    auto it = pods_.find(pod_uid);
    if (it == pods_.end()) return absl::OkStatus();
    IndexPod(pod_uid, it->second, false);
    Pod old = std::move(it->second);
    pods_.erase(it);
    std::set<uint64_t> affected;
    for (const ContainerInfo& c : old.containers) {
      affected.insert(c.cgroup_id);
      IndexContainer(c.cgroup_id, pod_uid, -1);
    }
    Txn txn(maps_.get());
    for (uint64_t cg : affected) {
      absl::Status st = SyncCgroup(cg, txn);
      if (!st.ok()) {
        txn.Rollback();
        for (const ContainerInfo& c : old.containers) IndexContainer(c.cgroup_id, pod_uid, +1);
        IndexPod(pod_uid, pods_.emplace(pod_uid, std::move(old)).first->second, true);
        return st;
      }
    }
    for (uint64_t cg : affected) {
      if (!cgroup_refs_.count(cg)) to_untrack.push_back(cg);
    }
    changed = txn.Commit();
  }
  if (tracker_) {
    for (uint64_t cg : to_untrack) tracker_->Untrack(cg).IgnoreError();
  }
  Notify(std::move(changed));
  return absl::OkStatus();
}

std::vector<uint32_t> PolicyFilterState::PoliciesOfCgroup(uint64_t cgroup_id) const {
  absl::MutexLock l(&mu_);
  auto it = maps_->content().cgroups.find(cgroup_id);
  if (it == maps_->content().cgroups.end()) return {};
  return std::vector<uint32_t>(it->second.begin(), it->second.end());
}

std::vector<uint64_t> PolicyFilterState::CgroupsOfPolicy(uint32_t policy_id) const {
  absl::MutexLock l(&mu_);
  auto it = maps_->content().policies.find(policy_id);
  if (it == maps_->content().policies.end()) return {};
  return std::vector<uint64_t>(it->second.begin(), it->second.end());
}

std::optional<PodContainer> PolicyFilterState::PodOfContainerCgroupLocked(uint64_t cgroup_id) const {
  auto it = cgroup_pods_.find(cgroup_id);
  if (it == cgroup_pods_.end()) return std::nullopt;
  for (const std::string& uid : it->second) {
    auto pod = pods_.find(uid);
    if (pod == pods_.end()) continue;
    for (const ContainerInfo& c : pod->second.containers) {
      if (c.cgroup_id == cgroup_id) return PodContainer{pod->second.info, c};
    }
  }
  return std::nullopt;
}

std::optional<PodContainer> PolicyFilterState::PodOfCgroup(uint64_t cgroup_id) const {
  {
    absl::MutexLock l(&mu_);
    if (cgroup_pods_.empty()) return std::nullopt;
    if (auto pc = PodOfContainerCgroupLocked(cgroup_id)) return pc;
  }
  if (tracker_ == nullptr) return std::nullopt;
  // A sub-cgroup: the tracker map names its container cgroup (outside the
  // lock: a syscall).
  std::optional<uint64_t> container = tracker_->ContainerOf(cgroup_id);
  if (!container || *container == cgroup_id) return std::nullopt;
  absl::MutexLock l(&mu_);
  return PodOfContainerCgroupLocked(*container);
}

void PolicyFilterState::BeginBulk() {
  absl::MutexLock l(&mu_);
  maps_->BeginBulk();
}

absl::Status PolicyFilterState::EndBulk() {
  absl::MutexLock l(&mu_);
  return maps_->EndBulk();
}

PolicyFilterState::Bulk::Bulk(PolicyFilterState* s) : s_(s) { s_->BeginBulk(); }

PolicyFilterState::Bulk::~Bulk() {
  if (absl::Status st = s_->EndBulk(); !st.ok()) LOG(ERROR) << "policy filter maps: end of bulk load: " << st;
}

uint64_t PolicyFilterState::outer_map_writes() const {
  absl::MutexLock l(&mu_);
  return maps_->outer_writes();
}

PolicyFilterContent PolicyFilterState::Content() const {
  absl::MutexLock l(&mu_);
  return maps_->content();
}

uint64_t PolicyFilterState::AddObserver(
    std::function<void(const std::vector<uint64_t>& changed_cgroups)> fn) {
  absl::MutexLock l(&notify_mu_);
  const uint64_t id = next_observer_++;
  observers_.emplace_back(id, std::move(fn));
  return id;
}

void PolicyFilterState::RemoveObserver(uint64_t id) {
  absl::MutexLock l(&notify_mu_);  // waits for a notification in progress
  std::erase_if(observers_, [id](const auto& o) { return o.first == id; });
}

void PolicyFilterState::Notify(std::vector<uint64_t> changed) {
  if (changed.empty()) return;
  absl::MutexLock l(&notify_mu_);
  for (const auto& [id, fn] : observers_) fn(changed);
}

absl::StatusOr<PolicyFilterContent> PolicyFilterState::AgentContent() const {
  absl::MutexLock l(&mu_);
  return maps_->ReadAgent();
}

std::string PolicyFilterState::agent_dir() const {
  absl::MutexLock l(&mu_);
  return maps_->agent_dir();
}

bool PolicyFilterState::tetragon_mode() const {
  absl::MutexLock l(&mu_);
  return maps_->tetragon_mode();
}

bool PolicyFilterState::PolicyIdInUse(uint32_t policy_id) const {
  absl::MutexLock l(&mu_);
  return policies_.count(policy_id) > 0 || maps_->PolicyPresent(policy_id);
}

int PolicyFilterState::policy_filter_maps_fd() const {
  absl::MutexLock l(&mu_);
  return maps_->policy_map_fd();
}

int PolicyFilterState::policy_filter_cgroup_maps_fd() const {
  absl::MutexLock l(&mu_);
  return maps_->cgroup_map_fd();
}

int PolicyFilterState::cgtracker_fd() const { return tracker_ ? tracker_->map_fd() : -1; }

std::string PolicyFilterState::Dump() const {
  absl::MutexLock l(&mu_);
  std::string out = FormatPolicyFilterContent(maps_->content(), all_pods_id_);
  out += "policies\n";
  for (const auto& [id, p] : policies_) {
    absl::StrAppend(&out, "  ", id, ": namespace=", p.ns.empty() ? "*" : p.ns,
                    " podSelector=", p.pod_selector ? "set" : "none",
                    " containerSelector=", p.container_selector ? "set" : "none",
                    " hostSelector=", p.host ? "{}" : "none", "\n");
  }
  out += "pods\n";
  for (const auto& [uid, pod] : pods_) {
    absl::StrAppend(&out, "  ", pod.info.ns, "/", pod.info.name, " uid=", uid, "\n");
    for (const ContainerInfo& c : pod.containers) {
      absl::StrAppend(&out, "    ", c.name, " id=", c.id, " cgroup=", c.cgroup_id,
                      c.cgroup_path.empty() ? "" : " path=", c.cgroup_path, "\n");
    }
  }
  if (tracker_) {
    absl::StrAppend(&out, "cgroup tracker program: ",
                    tracker_->program_attached() ? "attached" : "not attached (scans only)", "\n");
  }
  return out;
}

}  // namespace tgd
