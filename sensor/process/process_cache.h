// ProcessCache: what tgdispatch knows about processes, keyed by Tetragon exec
// id (base64 of "node:ktime:pid") and by live tgid. Exec, clone and exit
// records update it; events take their `process` and `parent` from it.
//
// Lifetime: an entry is referenced by its own (running) process and by each
// cached child whose parent it is. An exited process stays while a child
// still names it as parent, so later events of that child carry a complete
// parent. When the last reference goes, the entry is kept `exited_keep`
// longer (Tetragon frees such an entry on the second pass of its process
// cache GC, 30-60 s with its default --process-cache-gc-interval=30s; the
// daemon keeps it two intervals), so events decoded late (another ring
// buffer, held back) still find the process and its parent. The cache is
// bounded: past max_entries the entries kept that way go first, then the
// oldest exited entries (counted as evicted).
//
// Entries hold immutable shared processes (ProcessPtr): each is built once
// on an arena of its own and registered with the JSON encoder, so events can
// point at it (EventBuilder) instead of copying it, and its JSON object is
// written once for all the events that carry it. The copying accessors
// (AddExec, GetByTgid, ...) remain for callers that want a message to edit.
//
// /proc reads and ring records: the process sensor attaches first, then
// walks /proc, then decodes the records that waited in the ring buffer, so
// a process can be seen by both. An entry made from a /proc read (an
// ExecRecord with observed_ns) knows the process's start S and when it was
// read (observed_ns). A later exec or clone record of the same tgid with
// S <= ktime < observed_ns is what the read already saw: the record (exact
// time, from the kernel) replaces the entry in place and keeps its exec id,
// so the process exists once and children linked to it by the walk keep
// their parent. An exit record with ktime < S is of an older process that
// had the same pid: it does not end the newer one the walk found.
#ifndef TGDISPATCH_SENSOR_PROCESS_PROCESS_CACHE_H_
#define TGDISPATCH_SENSOR_PROCESS_PROCESS_CACHE_H_

#include <array>
#include <deque>
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/tetragon.pb.h"
#include "google/protobuf/arena.h"

namespace tgd {

// Tetragon's exec id: base64("<node>:<ktime>:<pid>").
std::string MakeExecId(const std::string& node, uint64_t ktime, uint32_t pid);

// What an exec (or a /proc entry at start) tells about a process.
struct ExecRecord {
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint32_t ppid = 0;
  uint64_t ktime = 0;  // CLOCK_MONOTONIC ns of the exec (or process start)
  uint32_t uid = 0, gid = 0, euid = 0, egid = 0, auid = 0;
  std::string binary, arguments, cwd;
  std::string flags;   // Tetragon flag words: "execve", "procFS", "truncArgs", ...
  uint64_t cap_permitted = 0, cap_effective = 0, cap_inheritable = 0;
  std::vector<uint32_t> ns;  // tgd_proc_ns order, may be empty
  uint64_t cgroup_id = 0;
  uint32_t nspid = 0;  // pid in its innermost pid namespace (0: unknown)
  // /proc reads: CLOCK_MONOTONIC ns just before /proc/<pid> was read (the
  // entry then holds what the process was at that time); 0 for exec records.
  uint64_t observed_ns = 0;
};

// A cached process: immutable once shared.
using ProcessPtr = std::shared_ptr<const tetragon::Process>;

// Builds a Process on an arena of its own (one allocation for the message
// tree and its short strings), then shares it.
class SharedProcessBuilder {
 public:
  SharedProcessBuilder();
  tetragon::Process* process() { return process_; }
  // Keeps `p` alive as long as the built process (for sub-messages it
  // points at instead of owning).
  void Keep(std::shared_ptr<const void> p);
  // The built process, registered with the JSON encoder's shared-process
  // cache (RegisterSharedProcess) until the last reference goes. The builder
  // must not be used afterwards.
  ProcessPtr Share() &&;
  // The same without the JSON registration, for processes never put into
  // events (the identity of a lazily copied fork).
  ProcessPtr ShareUnregistered() &&;

 private:
  struct Holder;
  std::shared_ptr<Holder> holder_;
  tetragon::Process* process_;
};

class ProcessCache {
 public:
  using Enricher = std::function<void(uint64_t cgroup_id, tetragon::Process*)>;

  struct Stats {
    uint64_t entries = 0;
    uint64_t evicted = 0;
  };
  // How long an exited entry nothing references any more stays: two of
  // Tetragon's default 30 s process cache GC intervals.
  static constexpr absl::Duration kDefaultExitedKeep = absl::Seconds(60);

  // `boot_wall_ns`: wall-clock ns at CLOCK_MONOTONIC zero (start_time = it + ktime).
  ProcessCache(std::string node_name, size_t max_entries, int64_t boot_wall_ns,
               absl::Duration exited_keep = kDefaultExitedKeep);

  // Records an exec; returns the new process (with parent_exec_id).
  tetragon::Process AddExec(const ExecRecord& rec);
  // Records a forked process: it inherits the parent's binary, arguments
  // and cwd (flag "clone") under its own exec id.
  //
  // in_init_tree, as Tetragon sets it: a fork is in its container's init
  // tree when its parent is or its own pid in its pid namespace (`nspid`)
  // is 1; an exec keeps what its fork had, or is when its nspid is 1. A
  // process read from /proc is not (Tetragon's /proc reader does not set it).
  std::optional<tetragon::Process> AddClone(uint32_t pid, uint32_t ppid, uint64_t ktime);
  // The same without building the copy until something asks for the
  // process (*out, when not null, asks at once). False when `ppid` is not a
  // cached running process.
  bool AddCloneLazy(uint32_t pid, uint32_t ppid, uint64_t ktime, ProcessPtr* out = nullptr, uint32_t nspid = 0);
  // Records the exit of tgid `pid`; returns the process as it was, and drops
  // the running process's reference.
  std::optional<tetragon::Process> Exit(uint32_t pid);

  std::optional<tetragon::Process> GetByTgid(uint32_t tgid) const;
  // For events decoded from another ring buffer than the process's own
  // records: what tgid `tgid` was at `ktime` (CLOCK_MONOTONIC ns of the
  // event; 0: now), the running process or the last one of that tgid that
  // exited (or was replaced by an exec) and is still kept, and its parent by
  // the process's parent_exec_id.
  struct ForEvent {
    ProcessPtr process;  // null: unknown
    ProcessPtr parent;   // null: unknown, or the process names none
    // The process is a running fork not yet exec'd ("clone"): its exec may
    // not be decoded yet.
    bool exec_may_follow = false;
    uint32_t nspid = 0;  // the process's pid in its pid namespace (0: unknown)
  };
  ForEvent LookupForEvent(uint32_t tgid, uint64_t ktime) const;

  // Tetragon's ancestors of a process whose parent is `parent`: the
  // parent's parent, its parent, ... up to and including the first with pid
  // <= 2 (none when the process or the parent has pid <= 2). *complete is
  // false when the chain stops at a process not cached (any longer).
  std::vector<ProcessPtr> Ancestors(const tetragon::Process& process, const tetragon::Process* parent,
                                    bool* complete) const;
  // LookupForEvent(tgid, 0).process, copied.
  std::optional<tetragon::Process> GetForEvent(uint32_t tgid) const;
  std::optional<tetragon::Process> GetByExecId(const std::string& exec_id) const;
  // The parent of the process with `exec_id`, if still cached.
  std::optional<tetragon::Process> GetParent(const std::string& exec_id) const;

  // The same without copies: shared immutable processes (null when absent).
  ProcessPtr AddExecShared(ExecRecord rec);
  ProcessPtr GetSharedByTgid(uint32_t tgid) const;
  ProcessPtr ExitShared(uint32_t pid);
  // The cached parent of `child` (by its parent_exec_id), null if none.
  ProcessPtr GetSharedParent(const tetragon::Process& child) const;
  // Tetragon's pod.container.pid: the process's pid in its pid namespace,
  // set on a process in a pod container when known (nspid != 0).
  static void SetContainerPid(uint32_t nspid, tetragon::Process* p);

  // `base` as enrich(cgroup_id, <copy of base>) makes it (base itself when
  // `enrich` is empty), computed as base merged with what enrich sets on an
  // empty process. The result is remembered in base's entry and reused while
  // enrich(cgroup_id, <empty process>) sets the same fields as when it was
  // made. So an enricher must only set fields that cached processes never
  // have and depend only on the cgroup id and its own state (the pod info
  // enricher sets `pod` from the workload registry by cgroup).
  ProcessPtr Enrich(const ProcessPtr& base, uint64_t cgroup_id, const Enricher& enrich);

  // What the process sensor needs per event, in one step (one lock):
  // `process` as Enrich() gives it and its cached `parent` (not enriched).
  struct Shown {
    ProcessPtr process;
    ProcessPtr parent;
  };
  // AddExecShared + Enrich + GetSharedParent. The plain process is only
  // built from the enriched one when something asks for it.
  // With `flag_clone`, when the running process of rec.pid is a fork not
  // yet exec'd (IsClone), the flag word "clone" is inserted after the first
  // word of rec.flags ("execve clone ..."), checked under the same lock.
  Shown AddExecEnriched(ExecRecord rec, uint64_t cgroup_id, const Enricher& enrich, bool flag_clone = false);
  // Whether the running process of `tgid` is a fork not yet exec'd (flags
  // "clone").
  bool IsClone(uint32_t tgid) const;
  // GetSharedByTgid + GetSharedParent + Enrich (for policy events).
  std::optional<Shown> GetEnrichedByTgid(uint32_t pid, uint64_t cgroup_id, const Enricher& enrich);
  // The same, then ExitShared; nullopt when `pid` is not a cached running
  // process, or (with the exit's `ktime`) when the running process is one a
  // /proc read found that started after `ktime` (the exit is an older
  // process's with the same pid; see the top of the file).
  std::optional<Shown> ExitEnriched(uint32_t pid, uint64_t cgroup_id, const Enricher& enrich,
                                    uint64_t ktime = 0);

  // Optional: a number that changes whenever the enricher may set something
  // different for some cgroup (the workload registry's generation). With it,
  // what the enricher sets is remembered per cgroup and the enricher is
  // called again only when the number changes, instead of for every event.
  void SetEnrichVersion(std::function<uint64_t()> version);

  Stats stats() const;
  // Changes whenever a process is added (exec, fork, /proc read): held
  // events need a new look only then.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  const std::string& node_name() const { return node_; }

 private:
  struct Entry {
    // The process as built; null until asked for when the entry was made
    // enriched first (Base() makes it).
    mutable ProcessPtr proc;
    ProcessPtr enriched;      // Enrich() memo
    std::string enrich_key;   // what the enricher set on an empty process (serialized)
    // The first process made for the entry, never replaced: the map keys and
    // lists view its exec_id (for a lazy fork only its identity: exec_id,
    // pid, parent_exec_id, flags).
    ProcessPtr anchor;
    ProcessPtr clone_of;      // lazy fork: the parent's process it copies
    uint64_t clone_ktime = 0;
    // Made from a /proc read: the process's start and when it was read
    // (0: made from a ring record).
    uint64_t walk_ktime = 0;
    uint64_t walk_observed_ns = 0;
    int refs = 0;        // running process + cached children naming it
    bool running = true;
    uint64_t ktime = 0;       // the exec (or fork, or /proc start) CLOCK_MONOTONIC ns
    uint32_t nspid = 0;       // pid in its pid namespace: pod.container.pid
    int64_t released_ns = 0;  // when refs went to 0 (kept until + exited_keep)
    const tetragon::Process& any() const { return *anchor; }
  };
  // What an enricher sets on an empty process, and its serialization.
  class Delta {
   public:
    // `share_pod`: the delta is remembered (SetEnrichVersion) and processes
    // may point at its pod instead of copying it (shared_pod()).
    Delta(const Enricher& enrich, uint64_t cgroup_id, bool share_pod = false);
    ~Delta();
    bool empty() const { return key_.empty(); }
    const std::string& key() const { return key_; }
    const tetragon::Process& process() const { return *process_; }
    // With share_pod and a pod set: the pod (registered with the JSON
    // encoder) and everything else the enricher set (rest()).
    const tetragon::Pod* shared_pod() const { return shared_pod_; }
    const tetragon::Process& rest() const { return *rest_; }
    bool rest_empty() const { return rest_empty_; }

   private:
    alignas(16) char block_[2048];
    google::protobuf::Arena arena_;
    tetragon::Process* process_;
    tetragon::Process* rest_ = nullptr;
    const tetragon::Pod* shared_pod_ = nullptr;
    bool rest_empty_ = true;
    std::string key_;
  };
  // The sub-messages an exec record gives (cap, ns, process_credentials).
  struct SubValues {
    uint64_t cap_permitted = 0, cap_effective = 0, cap_inheritable = 0;
    uint32_t uid = 0, gid = 0, euid = 0, egid = 0;
    bool has_ns = false;
    std::array<uint32_t, 10> ns{};
  };
  static SubValues SubsOf(const ExecRecord& r);
  // Builds them into `p` (owned copies).
  static void BuildSubs(const SubValues& v, tetragon::Process* p);
  // Points the builder's process at interned shared copies (one per
  // distinct value, registered with the JSON encoder).
  void AttachSubs(const SubValues& v, SharedProcessBuilder* b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The delta for one event: remembered per cgroup (SetEnrichVersion), else
  // computed into *local.
  const Delta& DeltaFor(const Enricher& enrich, uint64_t cgroup_id, std::optional<Delta>* local,
                        std::shared_ptr<const Delta>* hold);
  void BuildExec(ExecRecord r, tetragon::Process* out) const;
  void SetExecId(uint64_t ktime, uint32_t pid, tetragon::Process* p) const;
  void SetExecParent(const ExecRecord& r, tetragon::Process* p) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // in_init_tree of an exec of `pid` (forked from `ppid`), see AddClone.
  bool ExecInInitTree(uint32_t pid, uint32_t ppid, uint32_t nspid, bool from_proc) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ProcessPtr Base(const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The entry enriched with `delta`, and its parent (plain) when cached.
  Shown ShowLocked(Entry& entry, const Delta& delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ProcessPtr EnrichLocked(Entry& e, const Delta& delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The exec id of the running entry of `pid` when a record at `ktime`
  // describes what that entry's /proc read already saw (see the top of the
  // file): the record's entry takes this id. Empty otherwise.
  std::string SeenByWalk(uint32_t pid, uint64_t ktime) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Insert(Entry e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Release(absl::string_view exec_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the entry (and its tgid's exited mapping); returns its anchor,
  // which keeps the entry's exec id text alive. The parent is not released.
  ProcessPtr Erase(absl::flat_hash_map<absl::string_view, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees the released entries kept longer than exited_keep, and with
  // `force_one` the oldest released entry whatever its age (eviction).
  // Returns whether `force_one` freed one.
  bool SweepReleased(int64_t now_ns, bool force_one) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Remembers that tgid `pid`'s process `exec_id` ended (exit or exec).
  void NoteExited(uint32_t pid, absl::string_view exec_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictIfNeeded() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkExited(absl::string_view exec_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unlist(absl::string_view exec_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetStartTime(tetragon::Process* p, uint64_t ktime) const;

  const std::string node_;
  const size_t max_entries_;
  const int64_t boot_wall_ns_;
  const int64_t keep_ns_;
  std::atomic<uint64_t> generation_{0};
  mutable absl::Mutex mu_;
  // Exec ids are views of the entries' own (immutable) process messages:
  // valid while the entry exists, so an entry leaves running_ and the
  // exited list before it is erased.
  absl::flat_hash_map<absl::string_view, Entry> by_exec_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, absl::string_view> running_ ABSL_GUARDED_BY(mu_);  // tgid -> exec id
  // tgid -> exec id of the last process of that tgid that ended (exit or
  // exec) while its entry is kept: events decoded after the exit find it.
  absl::flat_hash_map<uint32_t, std::string> exited_by_tgid_ ABSL_GUARDED_BY(mu_);
  // Entries whose last reference went, oldest first: (exec id, released_ns).
  std::deque<std::pair<std::string, int64_t>> released_ ABSL_GUARDED_BY(mu_);
  bool sweeping_ ABSL_GUARDED_BY(mu_) = false;
  std::list<absl::string_view> exited_order_ ABSL_GUARDED_BY(mu_);  // eviction candidates, oldest first
  absl::flat_hash_map<absl::string_view, std::list<absl::string_view>::iterator> exited_pos_
      ABSL_GUARDED_BY(mu_);
  uint64_t evicted_ ABSL_GUARDED_BY(mu_) = 0;
  // Interned sub-messages (AttachSubs); cleared when they grow past a bound
  // (processes keep theirs alive).
  absl::flat_hash_map<std::tuple<uint64_t, uint64_t, uint64_t>, std::shared_ptr<const tetragon::Capabilities>>
      caps_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::array<uint32_t, 4>, std::shared_ptr<const tetragon::ProcessCredentials>> creds_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::array<uint32_t, 10>, std::shared_ptr<const tetragon::Namespaces>> ns_
      ABSL_GUARDED_BY(mu_);
  // SetEnrichVersion: deltas by cgroup, with the version they were made at.
  std::mutex deltas_mu_;
  std::atomic<bool> has_enrich_version_{false};
  std::function<uint64_t()> enrich_version_;
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, std::shared_ptr<const Delta>>> deltas_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_PROCESS_PROCESS_CACHE_H_
