// FilterMaps: tgdispatch's two policy filter maps, in Tetragon's layout
//   policy_filter_maps:        policy id -> { cgroup id }
//   policy_filter_cgroup_maps: cgroup id -> { policy id }   (the exact reverse)
// as an in-memory mirror, optionally backed by the real BPF maps (created and
// pinned by tgdispatch). Every primitive change updates the mirror and both
// BPF maps, or nothing.
//
// Beside a Tetragon agent (tetragon_bpf_dir) the agent's pinned maps are
// opened read-only, for their layout, for ids in use and for dumps: tgdispatch
// never writes into them. Its policies stay in its own maps, which are not
// bounded by the agent's 128 policies / 1,024 cgroups and cannot corrupt or
// starve the agent's entries (README "Running beside Tetragon").
//
// Used by PolicyFilterState (policy_filter_state.h); not thread-safe.
#ifndef TGDISPATCH_SENSOR_POLICYFILTER_FILTER_MAPS_H_
#define TGDISPATCH_SENSOR_POLICYFILTER_FILTER_MAPS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {

inline constexpr char kPolicyFilterMapName[] = "policy_filter_maps";
inline constexpr char kPolicyFilterCgroupMapName[] = "policy_filter_cgroup_maps";
inline constexpr char kCgtrackerMapName[] = "tg_cgtracker_map";

// The content of both maps. `cgroups` only has non-empty rows; `policies`
// has every policy entry, also empty ones (as upstream).
struct PolicyFilterContent {
  std::map<uint32_t, std::set<uint64_t>> policies;
  std::map<uint64_t, std::set<uint32_t>> cgroups;

  bool operator==(const PolicyFilterContent&) const = default;
};

// The reverse of `policies` (what policy_filter_cgroup_maps must hold).
std::map<uint64_t, std::set<uint32_t>> ReverseOf(
    const std::map<uint32_t, std::set<uint64_t>>& policies);

// Reads both maps from the kernel. cgroup_map_fd may be -1 (then `cgroups`
// stays empty). Errors: the errno of the bpf() calls.
absl::StatusOr<PolicyFilterContent> ReadPolicyFilterMaps(int policy_map_fd, int cgroup_map_fd);

// Opens <dir>/policy_filter_maps and <dir>/policy_filter_cgroup_maps (the
// latter optional) read-only, checks their layout and reads them.
// Errors: NOT_FOUND (no pin), FAILED_PRECONDITION (wrong layout), errno.
absl::StatusOr<PolicyFilterContent> ReadPinnedPolicyFilterMaps(const std::string& dir,
                                                               bool* has_cgroup_map = nullptr);

// Human-readable listing, like `tetra policyfilter listpolicies`; the
// all-pods id (1, in our maps and in a current Tetragon agent's) is marked
// "(all-pods)".
std::string FormatPolicyFilterContent(const PolicyFilterContent& content,
                                      uint32_t all_pods_id = 1);

// Checks an open map against the expected layout; the error names the map,
// the field, what was expected and what was found (FAILED_PRECONDITION).
absl::Status CheckMapLayout(int fd, const std::string& name, uint32_t type, uint32_t key_size,
                            uint32_t value_size);

struct FilterMapsOptions {
  std::string bpf_dir;           // own mode: pin here
  std::string tetragon_bpf_dir;  // beside Tetragon: open the agent's pins here, read-only
  uint32_t max_policies = 16384;
  uint32_t max_cgroups = 16384;
  uint32_t max_policies_per_cgroup = 0;  // 0: max_policies + 1
  uint32_t max_cgroups_per_policy = 0;   // 0: max_cgroups + 1
  bool use_bpf = true;
  bool unpin_on_close = true;  // own mode only
  // Deferred mode: always in bulk mode (see FilterMaps::BeginBulk), the
  // held-back writes applied by the owner's thread (TakeBatch, ApplyBatch,
  // FinishBatch) without the owner's lock, so that no change waits for a
  // grace period. Own maps only (an agent's are never written anyway).
  bool defer_outer_writes = false;
};

// FilterMaps internals shared by its two source files.
absl::Status FilterMapError(int err, const std::string& what);
absl::StatusOr<FileDescriptor> FilterMapInnerOf(int outer_fd, const void* key);

class FilterMaps {
 public:
  // Creates both maps with BPF_F_NO_PREALLOC inner templates and pins them
  // in bpf_dir (replacing stale pins), and the reserved all-pods entry
  // (policy 1). With tetragon_bpf_dir it first opens the agent's pins
  // read-only and checks their layout (policy_filter_cgroup_maps may be
  // absent: an agent without --enable-policy-filter-cgroup-map).
  // Errors: INVALID_ARGUMENT (options), NOT_FOUND (no agent pin),
  // FAILED_PRECONDITION (layout), errno.
  static absl::StatusOr<std::unique_ptr<FilterMaps>> Create(const FilterMapsOptions& options);
  ~FilterMaps();

  FilterMaps(const FilterMaps&) = delete;
  FilterMaps& operator=(const FilterMaps&) = delete;

  // Primitive changes. Each leaves mirror and maps unchanged when it fails.
  // CreatePolicy: ALREADY_EXISTS if present, RESOURCE_EXHAUSTED when the
  // outer map is full.
  absl::Status CreatePolicy(uint32_t policy_id);
  // DeletePolicy: the policy's pairs must have been removed first.
  absl::Status DeletePolicy(uint32_t policy_id);
  // AddPair / DelPair: idempotent; RESOURCE_EXHAUSTED when a map is full.
  absl::Status AddPair(uint32_t policy_id, uint64_t cgroup_id);
  absl::Status DelPair(uint32_t policy_id, uint64_t cgroup_id);

  // Bulk mode (a bulk load: start-up, --policy-dir): every write to an
  // outer map (a map-in-map write: the kernel waits for an RCU grace period
  // each time) is held back: a new or resized inner map is filled meanwhile,
  // a deleted key is remembered. Flush writes them with one
  // BPF_MAP_UPDATE_BATCH and one BPF_MAP_DELETE_BATCH per outer map: a few
  // grace periods per flush instead of one per policy, per cgroup row and
  // per resize. The mirror (content()) and the error checks (capacities,
  // ids) stay synchronous; only the kernel's outer maps lag, until the next
  // Flush. Our datapath never reads these maps (run lists are derived from
  // the mirror). Nested: EndBulk flushes when the outermost bulk ends.
  // Flushes also run by themselves once kMaxPending entries wait (an inner
  // map each holds an fd) or the oldest has waited kMaxPendingAgeS (not in
  // deferred mode: there the owner's thread flushes).
  void BeginBulk() { ++bulk_depth_; }
  // Errors: those of Flush.
  absl::Status EndBulk();
  // Writes the held-back entries. Errors: errno of the outer updates (the
  // entries that failed are logged and stay out of the kernel maps; the
  // mirror keeps them).
  absl::Status Flush();
  size_t pending() const { return pending_policy_.size() + pending_cgroup_.size(); }
  // Map-in-map writes made so far (each waited for a grace period; a batch
  // counts once): benchmarks.
  uint64_t outer_writes() const { return outer_writes_.load(); }

  // Deferred mode: the held-back writes, taken out (nullptr when there are
  // none or a batch is in flight) to be applied by ApplyBatch without the
  // owner's lock; until FinishBatch the maps still find its inner maps.
  struct Batch {
    int policy_map_fd = -1, cgroup_map_fd = -1;
    std::map<uint32_t, FileDescriptor> policy;  // an invalid fd: delete the key
    std::map<uint64_t, FileDescriptor> cgroup;
  };
  std::shared_ptr<const Batch> TakeBatch();
  // Errors: the first failed write (every failure is logged; the mirror
  // keeps the entry). Thread-safe: only reads the batch.
  absl::Status ApplyBatch(const Batch& batch) const;
  void FinishBatch() { inflight_.reset(); }
  bool deferred() const { return deferred_; }
  bool batch_in_flight() const { return inflight_ != nullptr; }

  static constexpr size_t kMaxPending = 2048;
  static constexpr double kMaxPendingAgeS = 0.5;

  const PolicyFilterContent& content() const { return content_; }
  // The agent's maps as the kernel holds them now (empty when not beside
  // Tetragon).
  absl::StatusOr<PolicyFilterContent> ReadAgent() const;

  // Whether `policy_id` is a key of our policy_filter_maps or (beside
  // Tetragon) of the agent's, looked up in the kernel now.
  bool PolicyPresent(uint32_t policy_id) const;

  bool bpf() const { return use_bpf_; }
  // The key of the all-pods policy in our maps: 1.
  uint32_t all_pods_id() const { return all_pods_id_; }
  bool tetragon_mode() const { return tetragon_mode_; }
  int policy_map_fd() const { return policy_map_.get(); }
  int cgroup_map_fd() const { return cgroup_map_.get(); }
  // The agent's maps (read-only fds), -1 when absent.
  int agent_policy_map_fd() const { return agent_policy_map_.valid() ? agent_policy_map_.get() : -1; }
  int agent_cgroup_map_fd() const { return agent_cgroup_map_.valid() ? agent_cgroup_map_.get() : -1; }
  const std::string& agent_dir() const { return agent_dir_; }
  // Capacity of the inner map of a policy / cgroup (0 when absent): tests.
  uint32_t PolicyInnerCapacity(uint32_t policy_id) const;
  uint32_t CgroupInnerCapacity(uint64_t cgroup_id) const;

 private:
  // An inner map's capacity. Its fd is not kept: it is opened from the
  // outer map when used (the outer map holds the inner map).
  struct Inner {
    uint32_t capacity = 0;
  };
  FilterMaps() = default;

  absl::Status InitOwned(const FilterMapsOptions& o);
  absl::Status OpenAgent(const std::string& dir);
  absl::StatusOr<FileDescriptor> NewInner(bool policy_side, uint64_t owner, uint32_t capacity);
  absl::StatusOr<Inner*> EnsureCgroupRow(uint64_t cgroup_id, size_t need);
  absl::Status ResizePolicy(uint32_t policy_id, uint32_t capacity);
  absl::Status ResizeCgroup(uint64_t cgroup_id, uint32_t capacity);
  uint32_t GrowTo(uint32_t current, size_t need, uint32_t cap, uint32_t initial) const;
  // The inner map of a policy / cgroup row: the held-back one in bulk mode,
  // else the outer map's (opened into *holder).
  absl::StatusOr<int> PolicyInnerFd(uint32_t policy_id, FileDescriptor* holder);
  absl::StatusOr<int> CgroupInnerFd(uint64_t cgroup_id, FileDescriptor* holder);
  template <typename K>
  absl::StatusOr<int> InnerFd(int outer_fd, const std::map<K, FileDescriptor>& pending,
                              const std::map<K, FileDescriptor>* inflight, K key, FileDescriptor* holder);
  // Deletes `key` from an outer map: held back in bulk mode, else now
  // (a missing key is no error).
  template <typename K>
  absl::Status DeleteOuter(int outer_fd, std::map<K, FileDescriptor>* pending, K key, const std::string& what);
  // Puts `fd` under `key` in an outer map: held back in bulk mode, else
  // written now (flags: BPF_NOEXIST for a new key, BPF_EXIST for a swap).
  template <typename K>
  absl::Status PutInner(int outer_fd, std::map<K, FileDescriptor>* pending, K key, FileDescriptor fd,
                        uint64_t flags, const std::string& what);
  bool bulk() const { return bulk_depth_ > 0 || deferred_; }
  absl::Status MaybeFlush();

  bool use_bpf_ = false;
  bool tetragon_mode_ = false;
  uint32_t all_pods_id_ = 1;
  bool unpin_ = false;
  std::string pin_dir_;
  uint32_t max_policies_ = 0, max_cgroups_ = 0;
  uint32_t max_policies_per_cgroup_ = 0, max_cgroups_per_policy_ = 0;
  uint32_t policy_inner_flags_ = 0, cgroup_inner_flags_ = 0;
  FileDescriptor policy_map_, cgroup_map_;
  FileDescriptor agent_policy_map_, agent_cgroup_map_;  // read-only
  std::string agent_dir_;
  std::map<uint32_t, Inner> policy_inner_;
  std::map<uint64_t, Inner> cgroup_inner_;
  PolicyFilterContent content_;
  int bulk_depth_ = 0;
  bool deferred_ = false;
  // Held-back outer writes: key -> the new inner map, or an invalid fd for
  // a delete.
  std::map<uint32_t, FileDescriptor> pending_policy_;
  std::map<uint64_t, FileDescriptor> pending_cgroup_;
  std::shared_ptr<const Batch> inflight_;  // deferred mode: being applied
  double pending_since_ = 0;  // monotonic seconds of the oldest held-back entry
  mutable std::atomic<uint64_t> outer_writes_{0};
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYFILTER_FILTER_MAPS_H_
