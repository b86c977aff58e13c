// ProcessCache implementation.
#include "sensor/process/process_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
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
  static constexpr size_t kFirstBlock = 2048;
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
};

SharedProcessBuilder::SharedProcessBuilder()
    : holder_(std::make_shared<Holder>()), process_(holder_->process) {}

ProcessPtr SharedProcessBuilder::Share() && {
  RegisterSharedProcess(process_);
  holder_->registered = true;
  return ProcessPtr(std::move(holder_), process_);
}

std::string MakeExecId(const std::string& node, uint64_t ktime, uint32_t pid) {
  return absl::Base64Escape(absl::StrCat(node, ":", ktime, ":", pid));
}

ProcessCache::ProcessCache(std::string node_name, size_t max_entries, int64_t boot_wall_ns)
    : node_(std::move(node_name)), max_entries_(std::max<size_t>(max_entries, 16)),
      boot_wall_ns_(boot_wall_ns) {}

void ProcessCache::SetStartTime(tetragon::Process* p, uint64_t ktime) const {
  int64_t wall = boot_wall_ns_ + static_cast<int64_t>(ktime);
  p->mutable_start_time()->set_seconds(wall / 1000000000);
  p->mutable_start_time()->set_nanos(static_cast<int32_t>(wall % 1000000000));
}

tetragon::Process ProcessCache::AddExec(const ExecRecord& r) { return *AddExecShared(r); }

ProcessPtr ProcessCache::AddExecShared(ExecRecord r) {
  SharedProcessBuilder b;
  tetragon::Process& p = *b.process();
  p.set_exec_id(MakeExecId(node_, r.ktime, r.pid));
  p.mutable_pid()->set_value(r.pid);
  p.mutable_tid()->set_value(r.tid ? r.tid : r.pid);
  p.mutable_uid()->set_value(r.euid);
  p.mutable_auid()->set_value(r.auid);
  p.set_cwd(std::move(r.cwd));
  p.set_binary(std::move(r.binary));
  p.set_arguments(std::move(r.arguments));
  p.set_flags(std::move(r.flags));
  SetStartTime(&p, r.ktime);
  AddCaps(r.cap_permitted, p.mutable_cap()->mutable_permitted());
  AddCaps(r.cap_effective, p.mutable_cap()->mutable_effective());
  AddCaps(r.cap_inheritable, p.mutable_cap()->mutable_inheritable());
  auto* creds = p.mutable_process_credentials();
  creds->mutable_uid()->set_value(r.uid);
  creds->mutable_gid()->set_value(r.gid);
  creds->mutable_euid()->set_value(r.euid);
  creds->mutable_egid()->set_value(r.egid);
  if (r.ns.size() == 10) {
    auto* ns = p.mutable_ns();
    tetragon::Namespace* slots[] = {ns->mutable_uts(), ns->mutable_ipc(), ns->mutable_mnt(),
                                    ns->mutable_pid(), ns->mutable_pid_for_children(), ns->mutable_net(),
                                    ns->mutable_time(), ns->mutable_time_for_children(),
                                    ns->mutable_cgroup(), ns->mutable_user()};
    for (int i = 0; i < 10; ++i) slots[i]->set_inum(r.ns[i]);
  }
  absl::MutexLock lock(&mu_);
  if (auto it = running_.find(r.ppid); it != running_.end() && r.ppid != r.pid) {
    p.set_parent_exec_id(it->second);
  } else if (auto self = running_.find(r.pid); self != running_.end()) {
    // exec without fork: same parent as the image it replaces
    auto old = by_exec_id_.find(self->second);
    if (old != by_exec_id_.end()) p.set_parent_exec_id(old->second.proc->parent_exec_id());
  }
  Entry e;
  e.proc = std::move(b).Share();
  ProcessPtr out = e.proc;
  Insert(std::move(e));
  return out;
}

std::optional<tetragon::Process> ProcessCache::AddClone(uint32_t pid, uint32_t ppid, uint64_t ktime) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(ppid);
  if (it == running_.end()) return std::nullopt;
  auto parent = by_exec_id_.find(it->second);
  if (parent == by_exec_id_.end()) return std::nullopt;
  SharedProcessBuilder b;
  tetragon::Process& p = *b.process();
  p.CopyFrom(*parent->second.proc);
  p.set_exec_id(MakeExecId(node_, ktime, pid));
  p.mutable_pid()->set_value(pid);
  p.mutable_tid()->set_value(pid);
  p.set_parent_exec_id(parent->second.proc->exec_id());
  p.set_flags("clone");
  SetStartTime(&p, ktime);
  Entry e;
  e.proc = std::move(b).Share();
  ProcessPtr out = e.proc;
  Insert(std::move(e));
  return *out;
}

void ProcessCache::Insert(Entry e) {
  uint32_t pid = e.proc->pid().value();
  const std::string& id = e.proc->exec_id();
  const std::string& parent = e.proc->parent_exec_id();
  e.refs = 1;
  e.running = true;
  // The image this exec replaces (same tgid) is no longer running.
  if (auto old = running_.find(pid); old != running_.end()) {
    std::string old_id = old->second;
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
  running_[pid] = id;
  by_exec_id_[id] = std::move(e);
  EvictIfNeeded();
}

void ProcessCache::Release(const std::string& exec_id) {
  std::string id = exec_id;
  while (!id.empty()) {
    auto it = by_exec_id_.find(id);
    if (it == by_exec_id_.end()) return;
    if (--it->second.refs > 0) return;
    std::string parent = it->second.proc->parent_exec_id();
    by_exec_id_.erase(it);
    Unlist(id);
    id = parent;  // the freed entry no longer references its parent
  }
}

void ProcessCache::EvictIfNeeded() {
  while (by_exec_id_.size() > max_entries_ && !exited_order_.empty()) {
    std::string victim = exited_order_.front();
    Unlist(victim);
    auto it = by_exec_id_.find(victim);
    if (it == by_exec_id_.end()) continue;
    std::string parent = it->second.proc->parent_exec_id();
    by_exec_id_.erase(it);
    ++evicted_;
    if (!parent.empty()) Release(parent);
  }
}

void ProcessCache::MarkExited(const std::string& exec_id) {
  if (exited_pos_.contains(exec_id)) return;
  exited_order_.push_back(exec_id);
  exited_pos_[exec_id] = std::prev(exited_order_.end());
}

void ProcessCache::Unlist(const std::string& exec_id) {
  auto it = exited_pos_.find(exec_id);
  if (it == exited_pos_.end()) return;
  exited_order_.erase(it->second);
  exited_pos_.erase(it);
}

ProcessPtr ProcessCache::ExitShared(uint32_t pid) {
  absl::MutexLock lock(&mu_);
  auto it = running_.find(pid);
  if (it == running_.end()) return nullptr;
  std::string id = std::move(it->second);
  running_.erase(it);
  auto e = by_exec_id_.find(id);
  if (e == by_exec_id_.end()) return nullptr;
  ProcessPtr out = e->second.proc;
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
  return e->second.proc;
}

ProcessPtr ProcessCache::GetSharedParent(const tetragon::Process& child) const {
  if (child.parent_exec_id().empty()) return nullptr;
  absl::MutexLock lock(&mu_);
  auto p = by_exec_id_.find(child.parent_exec_id());
  if (p == by_exec_id_.end()) return nullptr;
  return p->second.proc;
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
  return *e->second.proc;
}

std::optional<tetragon::Process> ProcessCache::GetParent(const std::string& exec_id) const {
  absl::MutexLock lock(&mu_);
  auto e = by_exec_id_.find(exec_id);
  if (e == by_exec_id_.end() || e->second.proc->parent_exec_id().empty()) return std::nullopt;
  auto p = by_exec_id_.find(e->second.proc->parent_exec_id());
  if (p == by_exec_id_.end()) return std::nullopt;
  return *p->second.proc;
}

ProcessPtr ProcessCache::Enrich(const ProcessPtr& base, uint64_t cgroup_id, const Enricher& enrich) {
  if (!enrich || base == nullptr) return base;
  // What the enricher sets for this cgroup now, serialized deterministically
  // (map fields sorted) as the memo key.
  thread_local std::string key;
  key.clear();
  {
    alignas(16) char block[1024];
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = sizeof(block);
    google::protobuf::Arena arena(o);
    auto* scratch = google::protobuf::Arena::CreateMessage<tetragon::Process>(&arena);
    enrich(cgroup_id, scratch);
    google::protobuf::io::StringOutputStream sos(&key);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    scratch->SerializePartialToCodedStream(&cos);
  }
  {
    absl::MutexLock lock(&mu_);
    auto e = by_exec_id_.find(base->exec_id());
    if (e != by_exec_id_.end() && e->second.proc == base && e->second.enriched != nullptr &&
        e->second.enrich_key == key) {
      return e->second.enriched;
    }
  }
  SharedProcessBuilder b;
  b.process()->CopyFrom(*base);
  enrich(cgroup_id, b.process());
  ProcessPtr out = std::move(b).Share();
  absl::MutexLock lock(&mu_);
  auto e = by_exec_id_.find(base->exec_id());
  if (e != by_exec_id_.end() && e->second.proc == base) {
    e->second.enriched = out;
    e->second.enrich_key = key;
  }
  return out;
}

ProcessCache::Stats ProcessCache::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{by_exec_id_.size(), evicted_};
}

}  // namespace tgd
