// ProcessCache, the lives of exited processes: references and their
// release, how long an entry nothing references is kept (exited_keep) and
// eviction past max_entries; and finding a process, its parent and its
// ancestors for an event decoded after they exited.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/time/clock.h"
#include "sensor/process/process_cache.h"

namespace tgd {

void ProcessCache::Release(absl::string_view exec_id) {
  absl::string_view id = exec_id;
  ProcessPtr keep;  // keeps the freed entry's message (and `id`) alive
  while (!id.empty()) {
    auto it = by_exec_id_.find(id);
    if (it == by_exec_id_.end()) return;
    if (--it->second.refs > 0) return;
    if (keep_ns_ > 0) {
      // Kept a while for events decoded late (see the top of the header).
      const int64_t now = absl::GetCurrentTimeNanos();
      it->second.released_ns = now;
      released_.emplace_back(std::string(id), now);
      if (!sweeping_) SweepReleased(now, /*force_one=*/false);
      return;
    }
    // `id` may view the previous `keep`: not used past this point.
    keep = Erase(it);
    id = keep->parent_exec_id();  // the freed entry no longer references its parent
  }
}

ProcessPtr ProcessCache::Erase(absl::flat_hash_map<absl::string_view, Entry>::iterator it) {
  ProcessPtr self = it->second.anchor;
  const absl::string_view id = self->exec_id();
  if (auto x = exited_by_tgid_.find(self->pid().value()); x != exited_by_tgid_.end() && x->second == id) {
    exited_by_tgid_.erase(x);
  }
  Unlist(id);
  by_exec_id_.erase(it);
  return self;
}

bool ProcessCache::SweepReleased(int64_t now_ns, bool force_one) {
  // Freeing an entry releases its parent, which may queue it here: one
  // loop, no recursion.
  sweeping_ = true;
  absl::Cleanup done = [this] { sweeping_ = false; };
  while (!released_.empty()) {
    const int64_t at = released_.front().second;
    if (!force_one && at + keep_ns_ > now_ns) return false;
    auto it = by_exec_id_.find(released_.front().first);
    released_.pop_front();
    // Gone already (evicted, replaced) or referenced again since.
    if (it == by_exec_id_.end() || it->second.refs > 0 || it->second.released_ns != at) continue;
    ProcessPtr self = Erase(it);
    if (!self->parent_exec_id().empty()) Release(self->parent_exec_id());
    if (force_one) return true;
  }
  return false;
}

void ProcessCache::NoteExited(uint32_t pid, absl::string_view exec_id) {
  exited_by_tgid_[pid].assign(exec_id.data(), exec_id.size());
}

void ProcessCache::EvictIfNeeded() {
  while (by_exec_id_.size() > max_entries_) {
    // Entries nothing references first (kept only for late events), then
    // the oldest exited ones.
    if (SweepReleased(0, /*force_one=*/true)) {
      ++evicted_;
      continue;
    }
    if (exited_order_.empty()) return;
    absl::string_view victim = exited_order_.front();
    auto it = by_exec_id_.find(victim);
    if (it == by_exec_id_.end()) {
      Unlist(victim);
      continue;
    }
    ProcessPtr keep = Erase(it);
    ++evicted_;
    if (!keep->parent_exec_id().empty()) Release(keep->parent_exec_id());
  }
}

void ProcessCache::MarkExited(absl::string_view exec_id) {
  if (exited_pos_.contains(exec_id)) return;
  exited_order_.push_back(exec_id);
  exited_pos_[exec_id] = std::prev(exited_order_.end());
}

void ProcessCache::Unlist(absl::string_view exec_id) {
  auto it = exited_pos_.find(exec_id);
  if (it == exited_pos_.end()) return;
  exited_order_.erase(it->second);
  exited_pos_.erase(it);
}

ProcessCache::ForEvent ProcessCache::LookupForEvent(uint32_t tgid, uint64_t ktime) const {
  ForEvent out;
  absl::MutexLock lock(&mu_);
  const Entry* run = nullptr;
  const Entry* ended = nullptr;
  if (auto it = running_.find(tgid); it != running_.end()) {
    if (auto e = by_exec_id_.find(it->second); e != by_exec_id_.end()) run = &e->second;
  }
  if (auto it = exited_by_tgid_.find(tgid); it != exited_by_tgid_.end()) {
    if (auto e = by_exec_id_.find(it->second); e != by_exec_id_.end()) ended = &e->second;
  }
  // The running process unless it started after the event and the ended
  // one did not (an exec, or a reused pid, decoded before the event).
  const Entry* pick = run;
  if (pick == nullptr || (ktime != 0 && ended != nullptr && run->ktime > ktime && ended->ktime <= ktime)) {
    pick = ended;
  }
  if (pick == nullptr) return out;
  out.process = Base(*pick);
  out.nspid = pick->nspid;
  out.exec_may_follow = pick == run && pick->any().flags() == "clone";
  if (const std::string& parent = pick->any().parent_exec_id(); !parent.empty()) {
    if (auto p = by_exec_id_.find(parent); p != by_exec_id_.end()) out.parent = Base(p->second);
  }
  return out;
}

std::vector<ProcessPtr> ProcessCache::Ancestors(const tetragon::Process& process, const tetragon::Process* parent,
                                                bool* complete) const {
  constexpr uint32_t kOldestAncestorPid = 2;  // Tetragon's OLDEST_ANCESTOR_PID on Linux
  constexpr size_t kMaxAncestors = 4096;      // a bound against a corrupt chain
  std::vector<ProcessPtr> out;
  *complete = true;
  if (process.pid().value() <= kOldestAncestorPid) return out;
  if (parent == nullptr) {
    *complete = process.parent_exec_id().empty();
    return out;
  }
  absl::MutexLock lock(&mu_);
  const tetragon::Process* at = parent;
  while (at->pid().value() > kOldestAncestorPid && out.size() < kMaxAncestors) {
    auto e = at->parent_exec_id().empty() ? by_exec_id_.end() : by_exec_id_.find(at->parent_exec_id());
    if (e == by_exec_id_.end()) {
      *complete = false;
      break;
    }
    out.push_back(Base(e->second));
    at = out.back().get();
  }
  return out;
}

std::optional<tetragon::Process> ProcessCache::GetForEvent(uint32_t tgid) const {
  ProcessPtr p = LookupForEvent(tgid, 0).process;
  if (p == nullptr) return std::nullopt;
  return *p;
}

}  // namespace tgd
