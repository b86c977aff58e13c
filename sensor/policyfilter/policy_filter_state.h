// PolicyFilterState: which tracing policies apply to which pod container
// cgroups, kept in policy filter maps of Tetragon's layout (policy_filter_maps
// and its reverse policy_filter_cgroup_maps, tgdispatch's own, pinned under
// its bpf dir) with Tetragon's operations and semantics (pkg/policyfilter):
//   - a policy selects pods by namespace (TracingPolicyNamespaced), pod labels
//     (podSelector; the pod's namespace is also visible as the label
//     "k8s:io.kubernetes.pod.namespace") and containers by containerSelector
//     over the fields {name, repo};
//   - without hostSelector an absent selector selects everything; with a
//     hostSelector an absent podSelector or containerSelector selects no pod;
//   - hostSelector {} (the only form upstream supports) adds the inner key
//     UINT64_MAX to the policy, meaning "also every non-pod cgroup";
//   - the all-pods policy (id 1, as upstream) always holds every pod
//     container cgroup; 0 is "unfiltered" and never has an entry.
// Every change updates both maps consistently; when one step fails the ones
// before it are undone and the error is returned.
//
// Beside a Tetragon agent (tetragon_bpf_dir) the agent's maps are opened
// read-only and never written (filter_maps.h says why); its cgroup tracker
// map is shared (cgroup_tracker.h: entries are only added, never changed).
#ifndef TGDISPATCH_SENSOR_POLICYFILTER_POLICY_FILTER_STATE_H_
#define TGDISPATCH_SENSOR_POLICYFILTER_POLICY_FILTER_STATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "compat/labels/label_selector.h"
#include "sensor/policyfilter/filter_maps.h"

namespace tgd {

using labels::LabelSelector;

inline constexpr uint32_t kUnfilteredPolicyId = 0;
inline constexpr uint32_t kAllPodsPolicyId = 1;
// A current Tetragon agent's all-pods id in its own maps (the same number).
inline constexpr uint32_t kTetragonAllPodsPolicyId = 1;
inline constexpr uint64_t kHostSelectorCgroupKey = ~0ULL;
// Label through which a podSelector sees the pod's namespace (as upstream).
inline constexpr char kPodNamespaceLabel[] = "k8s:io.kubernetes.pod.namespace";

struct PolicyFilterOptions {
  std::string bpf_dir;           // own maps: pinned here, e.g. /sys/fs/bpf/tgdispatch
  std::string tetragon_bpf_dir;  // if set: beside this Tetragon agent (its pins, read-only)
  uint32_t max_policies = 16384;
  uint32_t max_cgroups = 16384;
  uint32_t max_policies_per_cgroup = 0;  // 0: max_policies + 1
  uint32_t max_cgroups_per_policy = 0;   // 0: max_cgroups + 1
  bool use_bpf = true;          // false: in-memory model only (unit tests, no root)
  bool cgroup_tracker = true;   // maintain tg_cgtracker_map (needs use_bpf)
  bool cgtracker_program = true;  // load the raw_tp tracker program
  // Our own BPF policy filter maps are brought up to date by a background
  // thread, in batches (FilterMapsOptions::defer_outer_writes): no change
  // waits for an RCU grace period; the kernel's maps follow within about
  // kDeferredFlushDelay plus a grace period or two. The daemon's choice;
  // off, every change is in the kernel when it returns.
  bool defer_map_writes = false;
};

struct PodInfo {
  std::string uid;
  std::string name;
  std::string ns;
  labels::Labels labels;
};

struct ContainerInfo {
  std::string id;
  std::string name;
  std::string repo;         // image repository (containerSelector field "repo")
  uint64_t cgroup_id = 0;   // the container's cgroup (v2) id
  std::string cgroup_path;  // absolute directory, optional (sub-cgroup scan)
  std::string image;        // full image reference (repo:tag or repo@digest), optional
};

// A pod and one of its containers (PolicyFilterState::PodOfCgroup).
struct PodContainer {
  PodInfo pod;
  ContainerInfo container;
};

class CgroupTracker;

class PolicyFilterState {
 public:
  // Errors: those of FilterMaps::Create and CgroupTracker::Create.
  static absl::StatusOr<std::unique_ptr<PolicyFilterState>> Create(const PolicyFilterOptions& options);
  ~PolicyFilterState();

  PolicyFilterState(const PolicyFilterState&) = delete;
  PolicyFilterState& operator=(const PolicyFilterState&) = delete;

  // INVALID_ARGUMENT: reserved id (0, all_pods_id()), invalid selector (the message names
  // podSelector/containerSelector/hostSelector), non-empty hostSelector.
  // ALREADY_EXISTS: id in use. RESOURCE_EXHAUSTED: a map is full.
  absl::Status AddPolicy(uint32_t policy_id, const std::string& ns,
                         const std::optional<LabelSelector>& pod_selector,
                         const std::optional<LabelSelector>& container_selector,
                         const std::optional<LabelSelector>& host_selector);
  // Unknown ids and 0 are a no-op (as upstream).
  absl::Status DelPolicy(uint32_t policy_id);

  // Adds a container to a pod (creating the pod with `pod`'s namespace and
  // labels if unknown; a known pod keeps its labels). A container with the
  // same id and cgroup id is a no-op. INVALID_ARGUMENT: empty uid or
  // container id, cgroup id 0 or UINT64_MAX. FAILED_PRECONDITION: the pod is
  // known with another namespace. RESOURCE_EXHAUSTED: a map is full.
  absl::Status AddPodContainer(const PodInfo& pod, const ContainerInfo& container);
  // Sets a pod's labels and its full container list (adds, removes, and
  // replaces containers whose cgroup id changed). Errors as AddPodContainer.
  absl::Status UpdatePod(const PodInfo& pod, const std::vector<ContainerInfo>& containers);
  // Unknown pods / containers are a no-op.
  absl::Status DelPodContainer(const std::string& pod_uid, const std::string& container_id);
  absl::Status DelPod(const std::string& pod_uid);

  // Read side (the reverse map's content). PoliciesOfCgroup includes the
  // all-pods id for pod cgroups; PoliciesOfCgroup(kHostSelectorCgroupKey)
  // lists the policies in hostSelector mode. Both sorted.
  std::vector<uint32_t> PoliciesOfCgroup(uint64_t cgroup_id) const;
  std::vector<uint64_t> CgroupsOfPolicy(uint32_t policy_id) const;
  PolicyFilterContent Content() const;

  // The pod and container whose cgroup is `cgroup_id`, or whose tracked
  // container cgroup it is (a sub-cgroup, resolved through tg_cgtracker_map
  // when there is a tracker). nullopt for other cgroups. When several
  // containers share a cgroup, one of them is returned. Thread-safe;
  // a hash lookup under the lock (plus one map lookup for a cgroup that is
  // not a container's own while containers are known).
  std::optional<PodContainer> PodOfCgroup(uint64_t cgroup_id) const;

  // A bulk load (start-up, a --policy-dir): until the matching EndBulk the
  // map-in-map writes of every change are batched (FilterMaps::BeginBulk),
  // so that thousands of policies pay a handful of RCU grace periods instead
  // of one or more each. Everything else is as outside a bulk: the in-memory
  // content, the errors, the notifications (the run lists, hence
  // enforcement, follow each change at once); only the kernel's outer maps
  // lag, by at most FilterMaps::kMaxPendingAgeS or kMaxPending entries.
  // Nested bulks end with the outermost. EndBulk's errors: FilterMaps::Flush's.
  void BeginBulk();
  absl::Status EndBulk();
  // BeginBulk / EndBulk for a scope; EndBulk's error is logged.
  class Bulk {
   public:
    explicit Bulk(PolicyFilterState* s);
    ~Bulk();
    Bulk(const Bulk&) = delete;
    Bulk& operator=(const Bulk&) = delete;

   private:
    PolicyFilterState* s_;
  };
  // Map-in-map writes made in the kernel so far (a batch counts once).
  uint64_t outer_map_writes() const;
  // Waits until every change made before the call is in the kernel's maps
  // (PolicyFilterOptions::defer_map_writes; at once otherwise).
  void WaitMapsWritten();
  static constexpr absl::Duration kDeferredFlushDelay = absl::Milliseconds(5);

  // `fn` runs after every successful change with the cgroup ids (possibly
  // kHostSelectorCgroupKey) whose policy set changed, without the state's
  // lock held, serialized with other notifications. Returns the id that
  // RemoveObserver takes: an observer that goes away before this state
  // removes itself (once it returns, `fn` is not running and never runs again).
  uint64_t AddObserver(std::function<void(const std::vector<uint64_t>& changed_cgroups)> fn);
  void RemoveObserver(uint64_t id);

  // Changes (after the fact) whenever a pod or container is added, changed or
  // removed: what PodOfCgroup answers may differ from before.
  uint64_t pod_version() const { return pod_version_.load(std::memory_order_acquire); }

  // Whether we run beside a Tetragon agent (PolicyFilterOptions::tetragon_bpf_dir).
  bool tetragon_mode() const;
  // The agent's pin directory (empty when not beside Tetragon) and its two
  // maps as the kernel holds them now (read live; empty when not beside it).
  std::string agent_dir() const;
  absl::StatusOr<PolicyFilterContent> AgentContent() const;
  // kAllPodsPolicyId.
  uint32_t all_pods_id() const { return all_pods_id_; }
  // Whether `policy_id` is a key of our policy_filter_maps or of a Tetragon
  // agent's (looked up in the kernel now), so that ids never mean two
  // policies in tooling.
  bool PolicyIdInUse(uint32_t policy_id) const;

  int policy_filter_maps_fd() const;
  int policy_filter_cgroup_maps_fd() const;
  int cgtracker_fd() const;  // -1 without a tracker
  CgroupTracker* cgroup_tracker() const { return tracker_.get(); }

  std::string Dump() const;

 private:
  struct Policy {
    std::string ns;
    std::optional<LabelSelector> pod_selector, container_selector;
    bool host = false;
  };
  struct Pod {
    PodInfo info;
    std::vector<ContainerInfo> containers;
    // What a podSelector sees: the labels plus the namespace label (an
    // explicit label of that name is kept). Set with `info` (NewPod, SetPodInfo).
    labels::Labels match_labels;
  };
  struct Op {
    enum Kind { kCreatePolicy, kDeletePolicy, kAddPair, kDelPair } kind;
    uint32_t policy;
    uint64_t cgroup;
  };
  class Txn;

  PolicyFilterState() = default;
  static Pod NewPod(const PodInfo& info);
  bool PodMatches(const Policy& p, const Pod& pod) const;
  bool ContainerMatches(const Policy& p, const ContainerInfo& c) const;
  std::set<uint64_t> DesiredCgroupsOf(uint32_t policy_id, const Policy& p) const;
  std::set<uint32_t> DesiredPoliciesOf(uint64_t cgroup_id) const;
  absl::Status SyncCgroup(uint64_t cgroup_id, Txn& txn);
  absl::Status AddContainerLocked(Pod& pod, const ContainerInfo& c, Txn& txn,
                                  std::vector<uint64_t>* track);
  void Notify(std::vector<uint64_t> changed);
  void IndexContainer(uint64_t cgroup_id, const std::string& pod_uid, int delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<PodContainer> PodOfContainerCgroupLocked(uint64_t cgroup_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The pod index (pod_index_): a pod's namespace and match labels, added
  // (add = true) or removed. Called whenever pods_ gains or loses a pod or a
  // pod's info changes (SetPodInfo).
  void IndexPod(const std::string& uid, const Pod& pod, bool add) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetPodInfo(const std::string& uid, Pod& pod, const PodInfo& info)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The pods a policy can select: a subset of pods_ that holds every pod
  // PodMatches accepts, from the index (its namespace, its matchLabels pairs
  // and `In` requirements; the smallest of them), or nullptr for every pod.
  // `scratch` holds a set built for an `In` requirement.
  const absl::flat_hash_set<std::string>* CandidatePods(const Policy& p,
                                                        absl::flat_hash_set<std::string>* scratch) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  void FlushLoop();

  std::atomic<uint64_t> pod_version_{1};
  bool stop_flusher_ ABSL_GUARDED_BY(mu_) = false;
  std::thread flusher_;  // defer_map_writes
  uint32_t all_pods_id_ = kAllPodsPolicyId;  // set once in Create
  mutable absl::Mutex mu_;
  std::unique_ptr<FilterMaps> maps_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<CgroupTracker> tracker_;
  std::map<uint32_t, Policy> policies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Pod> pods_ ABSL_GUARDED_BY(mu_);
  // Pod index, so that an AddPolicy costs O(pods it can select), not
  // O(pods): "ns\n<namespace>" and "label\n<key>\n<value>" (every match
  // label) -> pod uids.
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> pod_index_ ABSL_GUARDED_BY(mu_);
  // cgroup id -> number of containers (over all pods) with that cgroup.
  std::map<uint64_t, int> cgroup_refs_ ABSL_GUARDED_BY(mu_);
  // cgroup id -> uids of the pods with a container in it (one per container).
  absl::flat_hash_map<uint64_t, std::vector<std::string>> cgroup_pods_ ABSL_GUARDED_BY(mu_);
  absl::Mutex notify_mu_;
  std::vector<std::pair<uint64_t, std::function<void(const std::vector<uint64_t>&)>>> observers_
      ABSL_GUARDED_BY(notify_mu_);
  uint64_t next_observer_ ABSL_GUARDED_BY(notify_mu_) = 1;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYFILTER_POLICY_FILTER_STATE_H_
