// ProcessCache implementation: exec, clone and exit records, enrichment and
// lookups (the lives of exited entries: process_cache_lifetime.cc).
#include "sensor/process/process_cache.h"

#include "absl/time/clock.h"

#include <time.h>

#include <string.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/capabilities.pb.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "sensor/export/json_encoder.h"

namespace tgd {
namespace {

void AddCaps(uint64_t mask, google::protobuf::RepeatedField<int>* out) {
  for (int c = 0; c <= tetragon::CapabilitiesType_MAX; ++c) {
    if (mask & (uint64_t{1} << c)) out->Add(c);
  }
}

}  // namespace

// The process and its arena; the arena's first block is part of the holder,
// so a process costs one allocation plus its long strings.
struct SharedProcessBuilder::Holder {
  static constexpr size_t kFirstBlock = 1024;  // an exec'd process with shared sub-messages: ~550 bytes
  static google::protobuf::ArenaOptions Options(char* block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = kFirstBlock;
    return o;
  }
  Holder()
      : arena(Options(block)),
        process(google::protobuf::Arena::CreateMessage<tetragon::Process>(&arena)) {}
  ~Holder() {
    if (registered) UnregisterSharedProcess(process);
  }
  alignas(16) char block[kFirstBlock];
  google::protobuf::Arena arena;
  tetragon::Process* process;
  bool registered = false;
  absl::InlinedVector<std::shared_ptr<const void>, 4> keep;
};

SharedProcessBuilder::SharedProcessBuilder()
    : holder_(std::make_shared<Holder>()), process_(holder_->process) {}

ProcessPtr SharedProcessBuilder::ShareUnregistered() && { return ProcessPtr(std::move(holder_), process_); }

void SharedProcessBuilder::Keep(std::shared_ptr<const void> p) { holder_->keep.push_back(std::move(p)); }

ProcessPtr SharedProcessBuilder::Share() && {
  RegisterSharedProcess(process_);
  holder_->registered = true;
  return ProcessPtr(std::move(holder_), process_);
}

std::string MakeExecId(const std::string& node, uint64_t ktime, uint32_t pid) {
  return absl::Base64Escape(absl::StrCat(node, ":", ktime, ":", pid));
}

ProcessCache::ProcessCache(std::string node_name, size_t max_entries, int64_t boot_wall_ns,
                           absl::Duration exited_keep)
    : node_(std::move(node_name)), max_entries_(std::max<size_t>(max_entries, 16)),
      boot_wall_ns_(boot_wall_ns), keep_ns_(std::max<int64_t>(0, absl::ToInt64Nanoseconds(exited_keep))) {}

void ProcessCache::SetStartTime(tetragon::Process* p, uint64_t ktime) const {
  int64_t wall = boot_wall_ns_ + static_cast<int64_t>(ktime);
  p->mutable_start_time()->set_seconds(wall / 1000000000);
  p->mutable_start_time()->set_nanos(static_cast<int32_t>(wall % 1000000000));
}

tetragon::Process ProcessCache::AddExec(const ExecRecord& r) { return *AddExecShared(r); }

void ProcessCache::BuildExec(ExecRecord r, tetragon::Process* out) const {
  tetragon::Process& p = *out;
  SetExecId(r.ktime, r.pid, &p);
  p.mutable_pid()->set_value(r.pid);
  p.mutable_tid()->set_value(r.tid ? r.tid : r.pid);
  p.mutable_uid()->set_value(r.euid);
  p.mutable_auid()->set_value(r.auid);
  p.set_cwd(std::move(r.cwd));
  p.set_binary(std::move(r.binary));
  p.set_arguments(std::move(r.arguments));
  p.set_flags(std::move(r.flags));
  SetStartTime(&p, r.ktime);
  // cap, ns and process_credentials: BuildSubs or AttachSubs.
}

ProcessCache::SubValues ProcessCache::SubsOf(const ExecRecord& r) {
  SubValues v;
  v.cap_permitted = r.cap_permitted;
  v.cap_effective = r.cap_effective;
  v.cap_inheritable = r.cap_inheritable;
  v.uid = r.uid;
  v.gid = r.gid;
  v.euid = r.euid;
  v.egid = r.egid;
  v.has_ns = r.ns.size() == 10;
  if (v.has_ns) std::copy(r.ns.begin(), r.ns.end(), v.ns.begin());
  return v;
}

namespace {

void FillCaps(const uint64_t (&masks)[3], tetragon::Capabilities* c) {
  AddCaps(masks[0], c->mutable_permitted());
  AddCaps(masks[1], c->mutable_effective());
  AddCaps(masks[2], c->mutable_inheritable());
}

void FillCreds(const std::array<uint32_t, 4>& ids, tetragon::ProcessCredentials* creds) {
  creds->mutable_uid()->set_value(ids[0]);
  creds->mutable_gid()->set_value(ids[1]);
  creds->mutable_euid()->set_value(ids[2]);
  creds->mutable_egid()->set_value(ids[3]);
}

void FillNs(const std::array<uint32_t, 10>& inums, tetragon::Namespaces* ns) {
  tetragon::Namespace* slots[] = {ns->mutable_uts(), ns->mutable_ipc(), ns->mutable_mnt(),
                                  ns->mutable_pid(), ns->mutable_pid_for_children(), ns->mutable_net(),
                                  ns->mutable_time(), ns->mutable_time_for_children(),
                                  ns->mutable_cgroup(), ns->mutable_user()};
  for (int i = 0; i < 10; ++i) slots[i]->set_inum(inums[i]);
}

// A heap message shared between processes: registered with the JSON
// encoder until the last reference goes.
template <typename T>
std::shared_ptr<const T> ShareSub(std::unique_ptr<T> m) {
  RegisterSharedMessage(m.get());
  return std::shared_ptr<const T>(m.release(), [](const T* p) {
    UnregisterSharedMessage(p);
    delete p;
  });
}

constexpr size_t kMaxInterned = 1024;

}  // namespace

void ProcessCache::BuildSubs(const SubValues& v, tetragon::Process* p) {
  const uint64_t masks[3] = {v.cap_permitted, v.cap_effective, v.cap_inheritable};
  FillCaps(masks, p->mutable_cap());
  FillCreds({v.uid, v.gid, v.euid, v.egid}, p->mutable_process_credentials());
  if (v.has_ns) FillNs(v.ns, p->mutable_ns());
}

void ProcessCache::AttachSubs(const SubValues& v, SharedProcessBuilder* b) {
  tetragon::Process* p = b->process();
  {
    const uint64_t masks[3] = {v.cap_permitted, v.cap_effective, v.cap_inheritable};
    auto key = std::make_tuple(masks[0], masks[1], masks[2]);
    auto it = caps_.find(key);
    if (it == caps_.end()) {
      if (caps_.size() >= kMaxInterned) caps_.clear();
      auto m = std::make_unique<tetragon::Capabilities>();
      FillCaps(masks, m.get());
      it = caps_.emplace(key, ShareSub(std::move(m))).first;
    }
    p->unsafe_arena_set_allocated_cap(const_cast<tetragon::Capabilities*>(it->second.get()));
    b->Keep(it->second);
  }
  {
    const std::array<uint32_t, 4> key = {v.uid, v.gid, v.euid, v.egid};
    auto it = creds_.find(key);
    if (it == creds_.end()) {
      if (creds_.size() >= kMaxInterned) creds_.clear();
      auto m = std::make_unique<tetragon::ProcessCredentials>();
      FillCreds(key, m.get());
      it = creds_.emplace(key, ShareSub(std::move(m))).first;
    }
    p->unsafe_arena_set_allocated_process_credentials(
        const_cast<tetragon::ProcessCredentials*>(it->second.get()));
    b->Keep(it->second);
  }
  if (v.has_ns) {
    auto it = ns_.find(v.ns);
    if (it == ns_.end()) {
      if (ns_.size() >= kMaxInterned) ns_.clear();
      auto m = std::make_unique<tetragon::Namespaces>();
      FillNs(v.ns, m.get());
      it = ns_.emplace(v.ns, ShareSub(std::move(m))).first;
    }
    p->unsafe_arena_set_allocated_ns(const_cast<tetragon::Namespaces*>(it->second.get()));
    b->Keep(it->second);
  }
}

void ProcessCache::SetExecParent(const ExecRecord& r, tetragon::Process* p) const {
  if (auto it = running_.find(r.ppid); it != running_.end() && r.ppid != r.pid) {
    p->set_parent_exec_id(it->second.data(), it->second.size());
  } else if (auto self = running_.find(r.pid); self != running_.end()) {
    // exec without fork: same parent as the image it replaces
    auto old = by_exec_id_.find(self->second);
    if (old != by_exec_id_.end()) p->set_parent_exec_id(old->second.any().parent_exec_id());
  }
}

bool ProcessCache::ExecInInitTree(uint32_t pid, uint32_t ppid, uint32_t nspid, bool from_proc) const {
  if (from_proc) return false;
  if (nspid == 1) return true;
  // What the fork this exec follows (or the image it replaces) had, else
  // the parent's.
  for (uint32_t tgid : {pid, ppid}) {
    auto it = running_.find(tgid);
    if (it == running_.end()) continue;
    auto e = by_exec_id_.find(it->second);
    if (e != by_exec_id_.end()) return e->second.any().in_init_tree().value();
  }
  return false;
}

void ProcessCache::SetContainerPid(uint32_t nspid, tetragon::Process* p) {
  if (nspid == 0 || !p->has_pod() || !p->pod().has_container()) return;
  p->mutable_pod()->mutable_container()->mutable_pid()->set_value(nspid);
}

ProcessPtr ProcessCache::AddExecShared(ExecRecord r) {
  SharedProcessBuilder b;
  const uint32_t pid = r.pid, ppid = r.ppid, nspid = r.nspid;
  const uint64_t ktime = r.ktime, observed_ns = r.observed_ns;
  ExecRecord ids;
  ids.pid = pid;
  ids.ppid = ppid;
  const SubValues subs = SubsOf(r);
  BuildExec(std::move(r), b.process());
  absl::MutexLock lock(&mu_);
  b.process()->mutable_in_init_tree()->set_value(ExecInInitTree(pid, ppid, nspid, observed_ns != 0));
  if (std::string seen = SeenByWalk(pid, ktime); !seen.empty()) b.process()->set_exec_id(std::move(seen));
  SetExecParent(ids, b.process());
  AttachSubs(subs, &b);
  Entry e;
  if (observed_ns != 0) {
    e.walk_ktime = ktime;
    e.walk_observed_ns = observed_ns;
  }
  e.ktime = ktime;
  e.nspid = nspid;
  e.proc = std::move(b).Share();
  e.anchor = e.proc;
  ProcessPtr out = e.proc;
  Insert(std::move(e));
  return out;
}

ProcessCache::Shown ProcessCache::AddExecEnriched(ExecRecord r, uint64_t cgroup_id, const Enricher& enrich,
                                                  bool flag_clone) {
  std::optional<Delta> local;
  std::shared_ptr<const Delta> hold;
  const Delta& delta = DeltaFor(enrich, cgroup_id, &local, &hold);
  SharedProcessBuilder b;
  ExecRecord ids;
  ids.pid = r.pid;
  ids.ppid = r.ppid;
  const uint64_t ktime = r.ktime;
  const uint32_t nspid = r.nspid;
  const bool from_proc = r.observed_ns != 0;
  const SubValues subs = SubsOf(r);
  BuildExec(std::move(r), b.process());
  Shown out;
  absl::MutexLock lock(&mu_);
  b.process()->mutable_in_init_tree()->set_value(ExecInInitTree(ids.pid, ids.ppid, nspid, from_proc));
  if (std::string seen = SeenByWalk(ids.pid, ktime); !seen.empty()) b.process()->set_exec_id(std::move(seen));
  if (flag_clone) {
    if (auto it = running_.find(ids.pid); it != running_.end()) {
      auto c = by_exec_id_.find(it->second);
      if (c != by_exec_id_.end() && c->second.any().flags() == "clone") {
        std::string* flags = b.process()->mutable_flags();
        const size_t at = flags->find(' ');
        flags->insert(at == std::string::npos ? flags->size() : at, " clone");
      }
    }
  }
  SetExecParent(ids, b.process());
  Entry e;
  if (delta.empty()) {
    AttachSubs(subs, &b);
    e.proc = std::move(b).Share();
    e.enriched = e.proc;
  } else {
    // Built enriched directly; the plain process is made from it only if
    // something asks for it (Base()).
    const tetragon::Process& d = delta.process();
    if (d.has_cap() || d.has_ns() || d.has_process_credentials()) {
      // An enricher that sets these (it should not): merged into owned
      // copies, as enriching a copy of the process would.
      BuildSubs(subs, b.process());
      b.process()->MergeFrom(d);
      SetContainerPid(nspid, b.process());
    } else {
      // A pod container's process gets its own pod (container.pid is its
      // own); others point at the remembered one.
      const bool own_pod = nspid != 0 && d.has_pod() && d.pod().has_container();
      if (hold != nullptr && delta.shared_pod() != nullptr && !own_pod) {
        // The remembered pod, pointed at instead of copied.
        if (!delta.rest_empty()) b.process()->MergeFrom(delta.rest());
        b.process()->unsafe_arena_set_allocated_pod(const_cast<tetragon::Pod*>(delta.shared_pod()));
        b.Keep(hold);
      } else {
        b.process()->MergeFrom(d);
        SetContainerPid(nspid, b.process());
      }
      AttachSubs(subs, &b);
    }
    e.enriched = std::move(b).Share();
  }
  e.enrich_key = delta.key();
  e.ktime = ktime;
  e.nspid = nspid;
  e.anchor = e.enriched;
  out.process = e.enriched;
  Insert(std::move(e));
  if (const std::string& parent = out.process->parent_exec_id(); !parent.empty()) {
    if (auto p = by_exec_id_.find(parent); p != by_exec_id_.end()) out.parent = Base(p->second);
  }
  return out;
}

bool ProcessCache::IsClone(uint32_t tgid) const {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(tgid);
  if (it == running_.end()) return false;
  auto e = by_exec_id_.find(it->second);
  return e != by_exec_id_.end() && e->second.any().flags() == "clone";
}

ProcessCache::Shown ProcessCache::ShowLocked(Entry& entry, const Delta& delta) {
  Shown out;
  if (const std::string& parent = entry.any().parent_exec_id(); !parent.empty()) {
    if (auto p = by_exec_id_.find(parent); p != by_exec_id_.end()) out.parent = Base(p->second);
  }
  out.process = EnrichLocked(entry, delta);
  return out;
}

std::optional<ProcessCache::Shown> ProcessCache::GetEnrichedByTgid(uint32_t pid, uint64_t cgroup_id,
                                                                   const Enricher& enrich) {
  std::optional<Delta> local;
  std::shared_ptr<const Delta> hold;
  const Delta& delta = DeltaFor(enrich, cgroup_id, &local, &hold);
  absl::MutexLock lock(&mu_);
  auto it = running_.find(pid);
  if (it == running_.end()) return std::nullopt;
  auto e = by_exec_id_.find(it->second);
  if (e == by_exec_id_.end()) return std::nullopt;
  return ShowLocked(e->second, delta);
}

std::optional<ProcessCache::Shown> ProcessCache::ExitEnriched(uint32_t pid, uint64_t cgroup_id,
                                                              const Enricher& enrich, uint64_t ktime) {
  std::optional<Delta> local;
  std::shared_ptr<const Delta> hold;
  const Delta& delta = DeltaFor(enrich, cgroup_id, &local, &hold);
  absl::MutexLock lock(&mu_);
  auto it = running_.find(pid);
  if (it == running_.end()) return std::nullopt;
  auto e = by_exec_id_.find(it->second);
  if (e == by_exec_id_.end()) return std::nullopt;
  Entry& entry = e->second;
  // A /proc read found this process, started after the exit: the exit is of
  // an older process that had the same pid.
  if (ktime != 0 && entry.walk_observed_ns != 0 && ktime < entry.walk_ktime) return std::nullopt;
  Shown out = ShowLocked(entry, delta);
  // As ExitShared.
  absl::string_view id = it->second;
  ProcessPtr anchor = entry.anchor;  // keeps `id` valid through Release
  NoteExited(pid, id);
  running_.erase(it);
  entry.running = false;
  MarkExited(id);
  Release(id);
  return out;
}

bool ProcessCache::AddCloneLazy(uint32_t pid, uint32_t ppid, uint64_t ktime, ProcessPtr* out, uint32_t nspid) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(ppid);
  if (it == running_.end()) return false;
  auto parent = by_exec_id_.find(it->second);
  if (parent == by_exec_id_.end()) return false;
  // Only the identity now; the full copy of the parent is made if something
  // asks for it (most forks exec at once).
  SharedProcessBuilder b;
  tetragon::Process& p = *b.process();
  if (std::string seen = SeenByWalk(pid, ktime); !seen.empty()) {
    p.set_exec_id(std::move(seen));
  } else {
    SetExecId(ktime, pid, &p);
  }
  p.mutable_pid()->set_value(pid);
  p.set_parent_exec_id(parent->second.any().exec_id());
  p.set_flags("clone");
  p.mutable_in_init_tree()->set_value(parent->second.any().in_init_tree().value() || nspid == 1);
  Entry e;
  e.anchor = std::move(b).ShareUnregistered();  // an identity, never in an event (Base() copies)
  e.clone_of = Base(parent->second);
  e.clone_ktime = ktime;
  e.ktime = ktime;
  e.nspid = nspid;
  if (out != nullptr) *out = Base(e);
  Insert(std::move(e));
  return true;
}

std::optional<tetragon::Process> ProcessCache::AddClone(uint32_t pid, uint32_t ppid, uint64_t ktime) {
  ProcessPtr p;
  if (!AddCloneLazy(pid, ppid, ktime, &p)) return std::nullopt;
  return *p;
}

void ProcessCache::SetExecId(uint64_t ktime, uint32_t pid, tetragon::Process* p) const {
  // base64("<node>:<ktime>:<pid>") without temporaries.
  char buf[256];
  if (node_.size() + 2 * 21 < sizeof(buf)) {
    char* q = buf;
    memcpy(q, node_.data(), node_.size());
    q += node_.size();
    *q++ = ':';
    q = absl::numbers_internal::FastIntToBuffer(ktime, q);
    *q++ = ':';
    q = absl::numbers_internal::FastIntToBuffer(pid, q);
    absl::Base64Escape(absl::string_view(buf, q - buf), p->mutable_exec_id());
  } else {
    p->set_exec_id(MakeExecId(node_, ktime, pid));
  }
}

std::string ProcessCache::SeenByWalk(uint32_t pid, uint64_t ktime) const {
  auto it = running_.find(pid);
  if (it == running_.end()) return "";
  auto e = by_exec_id_.find(it->second);
  if (e == by_exec_id_.end()) return "";
  const Entry& walk = e->second;
  if (walk.walk_observed_ns == 0 || ktime < walk.walk_ktime || ktime >= walk.walk_observed_ns) return "";
  return std::string(it->second);
}

void ProcessCache::Insert(Entry e) {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  uint32_t pid = e.anchor->pid().value();
  const absl::string_view id = e.anchor->exec_id();
  const absl::string_view parent = e.anchor->parent_exec_id();
  e.refs = 1;
  e.running = true;
  if (auto old = running_.find(pid); old != running_.end() && old->second == id) {
    // The same process under the same exec id (SeenByWalk, or a record seen
    // twice): the new entry takes the old one's place and its references
    // (the running process and the children that name the id).
    auto oe = by_exec_id_.find(old->second);
    if (oe != by_exec_id_.end()) {
      ProcessPtr keep = oe->second.anchor;  // keeps the old key's text alive
      const std::string old_parent(keep->parent_exec_id());
      e.refs = oe->second.refs;
      if (!parent.empty()) {
        if (auto pe = by_exec_id_.find(parent); pe != by_exec_id_.end()) ++pe->second.refs;
      }
      Unlist(old->second);
      by_exec_id_.erase(oe);
      old->second = id;
      by_exec_id_.emplace(id, std::move(e));
      if (!old_parent.empty()) Release(old_parent);
      EvictIfNeeded();
      return;
    }
  }
  // The image this exec replaces (same tgid) is no longer running.
  if (auto old = running_.find(pid); old != running_.end()) {
    absl::string_view old_id = old->second;
    NoteExited(pid, old_id);
    running_.erase(old);
    if (auto oe = by_exec_id_.find(old_id); oe != by_exec_id_.end()) {
      oe->second.running = false;
      MarkExited(old_id);
    }
    Release(old_id);
  }
  if (!parent.empty()) {
    if (auto pe = by_exec_id_.find(parent); pe != by_exec_id_.end()) ++pe->second.refs;
  }
  // The same exec id again (seen twice): the new entry replaces the old one
  // (whose key and list positions view the old message).
  if (auto dup = by_exec_id_.find(id); dup != by_exec_id_.end()) {
    Unlist(id);
    by_exec_id_.erase(dup);
  }
  running_[pid] = id;
  by_exec_id_.emplace(id, std::move(e));
  if (!released_.empty()) SweepReleased(absl::GetCurrentTimeNanos(), /*force_one=*/false);
  EvictIfNeeded();
}

ProcessPtr ProcessCache::ExitShared(uint32_t pid) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(pid);
  if (it == running_.end()) return nullptr;
  absl::string_view id = it->second;
  running_.erase(it);
  auto e = by_exec_id_.find(id);
  if (e == by_exec_id_.end()) return nullptr;
  ProcessPtr anchor = e->second.anchor;  // keeps `id` valid through Release
  ProcessPtr out = Base(e->second);
  NoteExited(pid, id);
  e->second.running = false;
  MarkExited(id);
  Release(id);
  return out;
}

std::optional<tetragon::Process> ProcessCache::Exit(uint32_t pid) {
  ProcessPtr p = ExitShared(pid);
  if (p == nullptr) return std::nullopt;
  return *p;
}

ProcessPtr ProcessCache::GetSharedByTgid(uint32_t tgid) const {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(tgid);
  if (it == running_.end()) return nullptr;
  auto e = by_exec_id_.find(it->second);
  if (e == by_exec_id_.end()) return nullptr;
  return Base(e->second);
}

ProcessPtr ProcessCache::GetSharedParent(const tetragon::Process& child) const {
  if (child.parent_exec_id().empty()) return nullptr;
  absl::MutexLock lock(&mu_);
  auto p = by_exec_id_.find(child.parent_exec_id());
  if (p == by_exec_id_.end()) return nullptr;
  return Base(p->second);
}

std::optional<tetragon::Process> ProcessCache::GetByTgid(uint32_t tgid) const {
  ProcessPtr p = GetSharedByTgid(tgid);
  if (p == nullptr) return std::nullopt;
  return *p;
}

std::optional<tetragon::Process> ProcessCache::GetByExecId(const std::string& exec_id) const {
  absl::MutexLock lock(&mu_);
  auto e = by_exec_id_.find(exec_id);
  if (e == by_exec_id_.end()) return std::nullopt;
  return *Base(e->second);
}

std::optional<tetragon::Process> ProcessCache::GetParent(const std::string& exec_id) const {
  absl::MutexLock lock(&mu_);
  auto e = by_exec_id_.find(exec_id);
  if (e == by_exec_id_.end() || e->second.any().parent_exec_id().empty()) return std::nullopt;
  auto p = by_exec_id_.find(e->second.any().parent_exec_id());
  if (p == by_exec_id_.end()) return std::nullopt;
  return *Base(p->second);
}

ProcessCache::Delta::Delta(const Enricher& enrich, uint64_t cgroup_id, bool share_pod)
    : arena_([this] {
        google::protobuf::ArenaOptions o;
        o.initial_block = block_;
        o.initial_block_size = sizeof(block_);
        return o;
      }()),
      process_(google::protobuf::Arena::CreateMessage<tetragon::Process>(&arena_)) {
  if (!enrich) return;
  enrich(cgroup_id, process_);
  // Serialized deterministically (map fields sorted): the memo key. Into a
  // buffer of the exact size (a growing string stream is much slower).
  const size_t size = process_->ByteSizeLong();
  if (size == 0) return;
  key_.resize(size);
  google::protobuf::io::ArrayOutputStream aos(key_.data(), static_cast<int>(size));
  google::protobuf::io::CodedOutputStream cos(&aos);
  cos.SetSerializationDeterministic(true);
  process_->SerializeWithCachedSizes(&cos);
  if (share_pod && process_->has_pod()) {
    rest_ = google::protobuf::Arena::CreateMessage<tetragon::Process>(&arena_);
    rest_->CopyFrom(*process_);
    rest_->clear_pod();
    rest_empty_ = rest_->ByteSizeLong() == 0;
    shared_pod_ = &process_->pod();
    RegisterSharedMessage(shared_pod_);
  }
}

ProcessCache::Delta::~Delta() {
  if (shared_pod_ != nullptr) UnregisterSharedMessage(shared_pod_);
}

void ProcessCache::SetEnrichVersion(std::function<uint64_t()> version) {
  std::lock_guard<std::mutex> lock(deltas_mu_);
  has_enrich_version_.store(version != nullptr, std::memory_order_release);
  enrich_version_ = std::move(version);
  deltas_.clear();
}

const ProcessCache::Delta& ProcessCache::DeltaFor(const Enricher& enrich, uint64_t cgroup_id,
                                                  std::optional<Delta>* local,
                                                  std::shared_ptr<const Delta>* hold) {
  if (!enrich || !has_enrich_version_.load(std::memory_order_acquire)) {
    local->emplace(enrich, cgroup_id);
    return **local;
  }
  std::lock_guard<std::mutex> lock(deltas_mu_);
  if (!enrich_version_) {
    local->emplace(enrich, cgroup_id);
    return **local;
  }
  const uint64_t version = enrich_version_();
  auto& slot = deltas_[cgroup_id];
  if (slot.second == nullptr || slot.first != version) {
    slot = {version, std::make_shared<const Delta>(enrich, cgroup_id, /*share_pod=*/true)};
  }
  *hold = slot.second;
  return **hold;
}

ProcessPtr ProcessCache::Base(const Entry& e) const {
  if (e.proc != nullptr) return e.proc;
  if (e.clone_of != nullptr) {
    // A fork: the parent's process under the child's identity.
    SharedProcessBuilder b;
    tetragon::Process& p = *b.process();
    p.CopyFrom(*e.clone_of);
    p.set_exec_id(e.anchor->exec_id());
    p.mutable_pid()->set_value(e.anchor->pid().value());
    p.mutable_tid()->set_value(e.anchor->pid().value());
    p.set_parent_exec_id(e.anchor->parent_exec_id());
    p.set_flags("clone");
    p.mutable_in_init_tree()->set_value(e.anchor->in_init_tree().value());
    SetStartTime(&p, e.clone_ktime);
    e.proc = std::move(b).Share();
    return e.proc;
  }
  // The enriched process without what the enricher added (parsed back from
  // the memo key): the process as built.
  SharedProcessBuilder b;
  b.process()->CopyFrom(*e.enriched);
  google::protobuf::Arena arena;
  auto* delta = google::protobuf::Arena::CreateMessage<tetragon::Process>(&arena);
  delta->ParsePartialFromString(e.enrich_key);
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  delta->GetReflection()->ListFields(*delta, &fields);
  for (const auto* f : fields) b.process()->GetReflection()->ClearField(b.process(), f);
  e.proc = std::move(b).Share();
  return e.proc;
}

ProcessPtr ProcessCache::EnrichLocked(Entry& e, const Delta& delta) {
  if (e.enriched != nullptr && e.enrich_key == delta.key()) return e.enriched;
  ProcessPtr base = Base(e);
  if (delta.empty()) {
    e.enriched = base;
  } else {
    // The enricher only sets fields a cached process never has (pod info),
    // so merging what it set on an empty process is the same as running it
    // on a copy of the process.
    SharedProcessBuilder b;
    b.process()->CopyFrom(*base);
    b.process()->MergeFrom(delta.process());
    SetContainerPid(e.nspid, b.process());
    e.enriched = std::move(b).Share();
  }
  e.enrich_key = delta.key();
  return e.enriched;
}

ProcessPtr ProcessCache::Enrich(const ProcessPtr& base, uint64_t cgroup_id, const Enricher& enrich) {
  if (!enrich || base == nullptr) return base;
  std::optional<Delta> local;
  std::shared_ptr<const Delta> hold;
  const Delta& delta = DeltaFor(enrich, cgroup_id, &local, &hold);
  absl::MutexLock lock(&mu_);
  auto e = by_exec_id_.find(base->exec_id());
  if (e != by_exec_id_.end() && Base(e->second) == base) return EnrichLocked(e->second, delta);
  // Not (or no longer) cached: no memo.
  if (delta.empty()) return base;
  SharedProcessBuilder b;
  b.process()->CopyFrom(*base);
  b.process()->MergeFrom(delta.process());
  return std::move(b).Share();
}

ProcessCache::Stats ProcessCache::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{by_exec_id_.size(), evicted_};
}

}  // namespace tgd
