// DispatchBackend: the "dispatch" loader. One dispatcher program per hook
// (tracepoint, raw tracepoint, kprobe, uprobe, LSM), which decides an event
// whose listed policies its gates rule out (run_gates.h) and tail-calls the
// hook's policy program (evaluator) for the others, and per policy only map
// entries: its compiled config (a slot switched atomically), its value-set
// entries, its gate values and its place in the (hook, cgroup) run lists
// derived from the policy filter state.
// Loading a policy on a hook that already has one runs no verifier.
//
// It also turns the datapath's ring buffer records into Tetragon
// process_tracepoint / process_kprobe events on the EventBus.
#ifndef TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_H_
#define TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bpf/dispatch/dispatch_abi.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/bpfcore/bpf_owners.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/loader/compile.h"
#include "sensor/loader/data_chunks.h"
#include "sensor/loader/features.h"
#include "sensor/loader/link_pins.h"
#include "sensor/loader/run_gates.h"
#include "sensor/loader/selector_workloads.h"
#include "sensor/loader/slot_pool.h"
#include "sensor/loader/usdt_hooks.h"
#include "sensor/stacks/symbolizer.h"
#include "sensor/actions/user_actions.h"
#include "sensor/imahash/ima_hash.h"
#include "sensor/loaderevents/loader_sensor.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/policymgr/policy_backend.h"
#include "sensor/process/event_cache.h"
#include "sensor/process/process_cache.h"

struct dispatch;  // the bpftool skeleton

namespace tgd {

struct DispatchOptions {
  EventBus* bus = nullptr;               // policy events go here (optional)
  ProcessCache* processes = nullptr;     // process info for events (optional)
  // With `processes`: events whose process or parent is not known yet are
  // held back and retried (Tetragon's event cache); counted in the stats.
  EventCacheConfig event_cache;
  EventCacheStats* event_cache_stats = nullptr;  // optional
  // Tetragon's --enable-ancestors for policy events (kprobe, tracepoint,
  // uprobe, lsm): they carry `ancestors`, and wait for them as for the parent.
  AncestorsConfig ancestors;
  // Required for scoped policies; must outlive the backend (it observes it).
  PolicyFilterState* filter = nullptr;
  std::string node_name;
  // imaHash: IMA's hash algorithm ("": no IMA, no hashes, as Tetragon's
  // helper fails there); unset: the running kernel's (sensor/imahash).
  std::optional<std::string> ima_hash_algo;
  // This node's labels (--node-labels), for policies' nodeSelector; unset:
  // a nodeSelector with labels is refused (the node's labels are unknown).
  std::optional<labels::Labels> node_labels;
  TracepointFormatReader formats;        // default: ReadTracepointFormat
  HostNamespaceReader host_ns = ReadHostNamespace;  // host_ns values, isNamespaceCapability
  uint32_t max_policies = 16384;         // config entries (policy x hook)
  uint32_t max_run_lists = 65536;        // (hook, cgroup) lists
  bool seed_exec_paths = true;           // fill the exec tracker from /proc at start
  bool start_reader = true;              // poll the ring buffer on a thread
  // Optional: adds pod/container information to an event's process (by the
  // cgroup id the datapath saw).
  std::function<void(uint64_t cgroup_id, tetragon::Process*)> enrich;
  // Internal: the per-policy comparison loader (see PerPolicyBackend).
  bool per_policy = false;
  // Run-list gates (run_gates.h). Off only to measure what a policy no gate
  // applies to costs (bench --gates=false).
  bool run_gates = true;
  // Distinct stacks the shared stack trace map (tgd_stacks) holds, for every
  // policy with kernelStackTrace/userStackTrace: ~1 KB each (127 frames),
  // preallocated at start whatever the CPU count (Tetragon: 32,768 per
  // policy that asks, ~34 MB each). A new stack whose bucket is taken is
  // rendered without frames.
  uint32_t stack_trace_entries = TGD_STACK_ENTRIES;
  // Bytes of the policy event ring buffer (tgd_events; a power of two, at
  // least a page): events and the data chunks of their long buffers.
  uint32_t events_ring_bytes = 1u << 22;
  // GetUrl / DnsLookup: queue, workers, timeout, resolver (user_actions.h).
  UserActionOptions user_actions;
  // Stack frames carry their address (Tetragon's --expose-stack-addresses).
  bool expose_stack_addresses = false;
  // Tests only: attach kprobe hooks as uprobes on the function `call` of this
  // ELF file, skipping the kprobe feature probe. The programs, their
  // program type, the evaluation and the events stay the kprobe ones: this
  // is how kprobe-only features (stack traces in process_kprobe) run end to
  // end on a kernel that cannot attach kprobes.
  std::string test_kprobes_as_uprobes_on;
  // Tests only: stack traces are also captured on tracepoint and raw
  // tracepoint hooks (whose Tetragon events have no field for them) and
  // handed here, symbolized, instead of being refused: the kernel stacks of
  // a kernel-context hook, which this kernel attaches.
  std::function<void(uint32_t policy_id, const std::vector<StackFrame>& kernel,
                     const std::vector<StackFrame>& user)>
      test_on_tracepoint_stacks;
  // Optional (dispatch loader only): every attachment (dispatchers, exec
  // tracker) is pinned here, so it outlives the process (link_pins.h).
  LinkPins* pins = nullptr;
  // With `pins`: shutdown and destruction detach nothing (the pins keep
  // every policy enforcing until the next run replaces them). Without it,
  // the pins are removed and everything detaches, as without `pins`.
  bool keep_on_exit = false;
};

struct HookStatus {
  std::string key;       // "tracepoint/syscalls/sys_enter_openat"
  uint32_t id = 0;
  int dispatcher_fd = -1;
  int evaluator_fd = -1;
  size_t policies = 0;
  tgd_hook_stats stats{};  // summed over CPUs
};

class DispatchBackend : public PolicyBackend {
 public:
  // Loads the shared object (maps, exec tracker) and attaches the exec
  // tracker. Errors: libbpf's errno as a status (PERMISSION_DENIED, ...).
  static absl::StatusOr<std::unique_ptr<DispatchBackend>> Create(DispatchOptions options);
  ~DispatchBackend() override;

  std::string Name() const override { return opts_.per_policy ? "per-policy" : "dispatch"; }
  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const PolicyDocument& policy, uint32_t filter_id,
                                                     PolicyMode mode) override {
    return LoadInState(policy, filter_id, mode, /*enabled=*/true);
  }
  // Disabled (!enabled) from its first config write: never runs enabled.
  absl::StatusOr<std::unique_ptr<LoadedPolicy>> LoadInState(const PolicyDocument& policy, uint32_t filter_id,
                                                            PolicyMode mode, bool enabled) override;

  // Detaches every dispatcher (and per-policy program) at once; the
  // policies' destructors then only drop their state, and remove their
  // filter ids from the policy filter maps only when those are a Tetragon
  // agent's (our own go with the daemon). With pins and keep_on_exit it
  // detaches nothing: the pinned links keep enforcing.
  void BeginShutdown() override;
  // Whether shutdown leaves the policies enforcing (pins and keep_on_exit).
  bool KeepsEnforcing() const { return opts_.pins != nullptr && opts_.keep_on_exit; }

  std::vector<HookStatus> Hooks() const;
  uint64_t events_posted() const { return posted_.load(); }
  // GetUrl / DnsLookup requests done, failed and dropped so far.
  UserActionStats user_action_stats() const { return user_actions_ ? user_actions_->Stats() : UserActionStats{}; }
  // The data chunk reassembly (tests read its counters).
  const DataChunks& chunks_for_test() const { return chunks_; }
  // Decodes one ring buffer record into an event (exposed for tests/bench).
  std::optional<tetragon::GetEventsResponse> Decode(const tgd_policy_event& ev);
  // The fd of a shared map by name ("tgd_policy_cfgs", ...), -1 if unknown.
  int MapFd(const std::string& name) const;
  // Reads the ring buffer once (tests without the reader thread).
  int PollOnce(int timeout_ms);
  // Returns once every slot, value and counter entry of deleted or replaced
  // policies is freed (the reclaimer's grace period passed): benchmarks and
  // tests that measure the memory after deletes.
  void WaitReclaimed();
  // Grace periods the reclaimer waited for so far (one per batch of frees).
  uint64_t ReclaimGracePeriods() const;

 private:
  class Policy;
  friend class Policy;

  struct Hook {
    uint32_t id = 0;
    std::string key;
    int kind = 0;
    BpfObject obj;
    BpfLink link;
    int dispatcher_fd = -1, evaluator_fd = -1;
    std::set<uint32_t> entries;  // datapath policy ids on this hook
    // The same, by policy-filter id (0: unfiltered): a run list is computed
    // from the cgroup's filter ids in O(policies that apply).
    std::map<uint32_t, std::set<uint32_t>> by_filter;
    // Unfiltered entries whose every selector has a matchWorkloads, by
    // selector filter id: in the run lists of those filters' cgroups only.
    std::map<uint32_t, std::set<uint32_t>> by_sel_filter;
    uint32_t flags = 0;  // TGD_HOOKF_*, as in tgd_hook_flags
    // Return probes: paired entry sides on this hook (it pushes frames),
    // return sides on it (it pops them) and their entry hook's id.
    uint32_t ret_entries = 0, ret_returns = 0, ret_pair_hook = 0;
  };
  // The maps a policy's config and values go to: the shared ones (dispatch)
  // or the policy's own (per-policy).
  struct ValueMaps {
    int cfgs = -1, ints = -1, strs = -1, prefixes = -1, postfixes = -1;
  };
  // One (policy, hook) pair: a datapath policy id.
  struct Entry {
    uint32_t id = 0;
    uint32_t filter_id = 0;
    // matchWorkloads: the filter id of each selector (0: it has none).
    std::array<uint32_t, TGD_MAX_SELECTORS> sel_filters{};
    std::vector<int> follow_bits;  // followChildren: the bits it holds
    Hook* hook = nullptr;
    CompiledHook compiled;
    uint16_t gen = 0;
    std::string policy_name, policy_namespace;
    // Per-policy mode: the policy's own object, maps and attachment.
    BpfObject pp_obj;
    BpfLink pp_link;
    ValueMaps maps;
    uint32_t cfg_slot = kNoSlot;  // its published config slot
    uint32_t cfg_index = kNoSlot;  // dispatch: its element of tgd_cfg_index (what run lists name)
    std::set<uint64_t> lists;  // cgroups whose run list (on its hook) holds it
    RunGate gate;  // its gate in the run lists (run_gates.h)
    bool gate_added = false;  // its gate values are in gates_
    // Return probes: counted in its hook's ret_entries / ret_returns.
    bool ret_counted = false;
    Hook* pair_hook = nullptr;  // return side: the entry side's hook
  };
  // Return probes: merges a return event into its entry event (held until
  // it comes, bounded as Tetragon's retprobe cache). Reader thread only.
  struct RetKey {
    uint32_t tid;
    uint32_t entry_policy;
    uint64_t ktime;
    bool operator<(const RetKey& o) const {
      return std::tie(tid, entry_policy, ktime) < std::tie(o.tid, o.entry_policy, o.ktime);
    }
  };
  static constexpr size_t kRetPendingMax = 4096;  // Tetragon's default retprobes cache size
  std::map<RetKey, std::shared_ptr<const tgd_policy_event>> ret_pending_;
  std::deque<RetKey> ret_order_;

  static constexpr uint32_t kNoSlot = ~0u;
  // Our observer of opts_.filter (0: none), removed when this backend goes.
  uint64_t filter_observer_ = 0;

  explicit DispatchBackend(DispatchOptions options);
  friend class PerPolicyBackend;
  absl::Status Init();
  absl::StatusOr<Hook*> GetOrCreateHook(const CompiledHook& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseHook(Hook* h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteConfig(Entry& e, uint32_t flags) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A free config index (tgd_cfg_index) for a new entry. RESOURCE_EXHAUSTED
  // when max_policies are in use.
  absl::StatusOr<uint32_t> AllocateCfgIndex();
  // Gives an index back once no event can still follow it (reclaimer).
  void FreeCfgIndex(uint32_t index);
  // Switches on the process tracking (TGD_TRACK_*) a policy's selectors
  // need, in tgd_track_flags; never switched off while the daemon runs.
  absl::Status EnableTracking(uint32_t track_flags) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LoadPerPolicyObject(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SyncPerPolicyCgroup(Entry& e, uint64_t cgroup) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ValueMaps SharedMaps() const;
  static const char* ProgSuffix(int kind);
  static std::string PinName(uint32_t hook_id);
  bpf_map* TailMap(int kind) const;
  absl::Status WriteValues(const Entry& e, bool insert) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes the run list of (hook, cgroup) from the entries and the filter.
  // More than TGD_RUN_MAX policies for one (hook, cgroup): an add is refused
  // (RESOURCE_EXHAUSTED); a workload change or delete publishes the first
  // TGD_RUN_MAX, marked truncated.
  enum class OverMax { kRefuse, kTruncate };
  absl::Status SyncRunList(Hook* h, uint64_t cgroup, OverMax over_max) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // matchWorkloads (dispatch_run_lists.cc): sets the entry's selector
  // filters from `sw` and files it in its hook's by_filter or
  // by_sel_filter; UnindexEntry takes it out of both.
  void IndexEntry(Entry& e, const SelectorWorkloads* sw) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnindexEntry(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The policy's selector filters (registered in the filter state), after
  // the refusals of selector_workloads.h and of the per-policy loader.
  absl::StatusOr<std::unique_ptr<SelectorWorkloads>> AddSelectorWorkloads(const std::vector<policy::Hook>& hooks,
                                                                          uint32_t filter_id);
  // matchBinaries followChildren (dispatch_follow_children.cc): gives each
  // of the entry's followChildren selectors a bit of tgd_follow_bits and
  // files its paths (RESOURCE_EXHAUSTED past TGD_FOLLOW_IDS; UNIMPLEMENTED
  // in the per-policy loader); RemoveFollowChildren undoes it and clears the
  // bits from every process's record.
  absl::Status AddFollowChildren(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveFollowChildren(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteFollowPath(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Once the entries `ids` are indexed: writes the run lists of the cgroups
  // of `sw`'s filters (null: nothing to do).
  absl::Status SyncSelectorLists(const std::vector<uint32_t>& ids, const SelectorWorkloads* sw);
  void SetHookFlag(Hook* h, uint64_t cgroup, bool present) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateRetFlags(Hook* h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnCgroupsChanged(const std::vector<uint64_t>& cgroups);
  void RemoveEntries(const std::vector<uint32_t>& ids);
  // Unpublishes an entry's config (reference deleted at once, slot retired)
  // and defers the deletion of its values, rate-limit keys and counters past
  // a grace period (a program still evaluating it keeps seeing them whole).
  void ForgetEntry(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `e` from its hook's indexes and rewrites the run lists that
  // held it (so no event reaches it any more).
  void DetachEntry(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ShuttingDown() const;
  // Closes `links` from up to 32 threads (each detach waits for a grace
  // period; concurrent ones share it).
  static void CloseInParallel(std::vector<BpfLink> links);
  absl::Status SetEntryFlags(const std::vector<uint32_t>& ids, uint32_t flags);
  uint64_t EntryMemory(const std::vector<uint32_t>& ids) const;
  // The entries' counters, summed (entries being deleted count nothing).
  PolicyCounters EntryCounters(const std::vector<uint32_t>& ids) const;
  void ReaderLoop();
  // Ring buffer records whose process or parent is not in the cache yet are
  // held back and retried (opts_.event_cache), as Tetragon's event cache
  // does; complete events go out at once. Reader thread only.
  void HandleRecord(const tgd_policy_event& ev);
  // The ring buffer callback: a policy event or a data chunk.
  static int OnRecord(void* ctx, void* data, size_t size);
  // Buffers beyond the event records (data chunks), joined per event.
  DataChunks chunks_;
  void ProcessPending(bool flush);
  // Whether `found` completes an event held for `age`: the process is known
  // (a fork's exec may still come: waited for up to kCloneWait) and so is
  // its parent when it names one.
  bool Complete(const tgd_policy_event& ev, const ProcessCache::ForEvent& found, absl::Duration age) const;
  // Whether events of this policy entry's hook kind carry ancestors.
  bool WantsAncestors(uint32_t policy_id) const;
  bool WantsAncestorsOfKind(int kind, bool usdt) const;
  // `found`: the process already looked up for this event (null: look it
  // up). `final`: sent after holding; what it lacks is counted.
  // `ret`: a return probe's event merged into `ev`, its entry's.
  void Publish(const tgd_policy_event& ev, const ProcessCache::ForEvent* found, bool final = false,
               std::shared_ptr<const tgd_policy_event> ret = nullptr);
  // Queues the GetUrl / DnsLookup actions of the event's matching selector.
  void RunUserActions(const tgd_policy_event& ev);
  // imaHash (dispatch_ima.cc): hands a process_lsm event whose selector
  // asked for it to the hasher, which publishes it; false: publish it now.
  bool HashLater(const tgd_policy_event& ev, tetragon::GetEventsResponse* out);
  std::optional<tetragon::GetEventsResponse> DecodeWith(const tgd_policy_event& ev,
                                                        const ProcessCache::ForEvent* found,
                                                        const tgd_policy_event* ret = nullptr);
  // The event's kernel and user stacks, read from tgd_stacks and symbolized
  // (or taken from held_stacks_).
  using StackPair = std::pair<std::vector<StackFrame>, std::vector<StackFrame>>;
  StackPair Stacks(const tgd_policy_event& ev);
  StackPair ReadStacks(const tgd_policy_event& ev);
  // Stacks of held events, symbolized when their record arrived (the
  // process's mappings may be gone by the time they are sent). Keyed by
  // (policy, tid, ktime); bounded by the held events.
  absl::Mutex stacks_mu_;
  std::map<std::tuple<uint32_t, uint32_t, uint64_t>, StackPair> held_stacks_ ABSL_GUARDED_BY(stacks_mu_);
  struct Pending {
    tgd_policy_event ev;
    absl::Time added;
    absl::Time next_tick;  // the next retry_delay tick: one more failed retry
    int failed = 0;
    std::shared_ptr<const tgd_policy_event> ret;  // return probes: the merged return event
  };
  static constexpr absl::Duration kCloneWait = absl::Milliseconds(500);
  std::deque<Pending> pending_;
  // Held events are looked at again when the process cache changed or at
  // this time (a tick or a fork's wait ends).
  uint64_t pending_seen_generation_ = 0;
  absl::Time pending_next_check_ = absl::InfiniteFuture();

  DispatchOptions opts_;
  const KernelFeatures* features_ = nullptr;  // this process's probes (KernelFeatures::Get)
  int64_t boot_wall_ns_ = 0;
  Skeleton<dispatch> shared_;
  std::vector<BpfLink> tracker_links_;
  RingBuffer rb_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> posted_{0};
  // The hooks' gate unions (run_gates.h): before the reclaimer, whose
  // deferred deletes drop gate values, so destroyed after it.
  std::unique_ptr<GateUnion> gates_;
  // Config indexes: free ones (given back by the reclaimer) and the next
  // never used.
  absl::Mutex index_mu_;
  std::vector<uint32_t> free_cfg_indexes_ ABSL_GUARDED_BY(index_mu_);
  uint32_t next_cfg_index_ ABSL_GUARDED_BY(index_mu_) = 0;
  // Config and run-list slots and their reclaimer (slot_pool.h); declared
  // after shared_ (the maps): destroyed first, the reclaimer before them.
  std::unique_ptr<SlotPool> cfg_pool_, run_pool_;
  std::unique_ptr<Reclaimer> reclaimer_;
  std::unique_ptr<Symbolizer> symbolizer_;  // stack traces (decoding)
  std::unique_ptr<UserActionRunner> user_actions_;  // GetUrl, DnsLookup
  std::unique_ptr<ImaHasher> ima_hasher_;           // imaHash (publishes to opts_.bus)
  // The loader sensor (loader: true), shared by the policies that ask for it
  // and stopped with the last (dispatch_loader_sensor.cc).
  absl::StatusOr<std::shared_ptr<LoaderSensor>> AcquireLoaderSensor();
  absl::Mutex loader_mu_;
  std::weak_ptr<LoaderSensor> loader_sensor_ ABSL_GUARDED_BY(loader_mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Hook>> hooks_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  // (hook, cgroup) -> its policies, each with the selectors that do not apply (tgd_run_list.sel_skip).
  std::map<std::pair<uint32_t, uint64_t>, std::vector<std::pair<uint32_t, uint8_t>>> run_lists_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint32_t> next_sel_filter_id_{kSelectorFirstFilterId};  // selector_workloads.h
  // followChildren: bits in use, and each path's bits (tgd_follow_paths).
  uint64_t follow_used_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> follow_paths_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint32_t, uint64_t>, uint32_t> run_slots_ ABSL_GUARDED_BY(mu_);  // their published slots
  std::set<uint32_t> free_hook_ids_ ABSL_GUARDED_BY(mu_);
  uint32_t next_hook_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint32_t next_entry_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint32_t tracking_ ABSL_GUARDED_BY(mu_) = 0;  // TGD_TRACK_* switched on
  // BeginShutdown was called: no loads, no per-entry map updates.
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_H_
