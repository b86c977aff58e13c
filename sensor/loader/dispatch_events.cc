// DispatchBackend's event side: the ring buffer reader (records wait for
// their process's exec in the process cache) and the decoding of a
// tgd_policy_event into a Tetragon process_tracepoint / process_kprobe /
// process_uprobe / process_lsm event.
#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sensor/loader/arg_render.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/process/proc_walk.h"

namespace tgd {
namespace {

tetragon::KprobeAction ToAction(uint32_t a) {
  switch (a) {
    case TGD_ACT_POST: return tetragon::KPROBE_ACTION_POST;
    case TGD_ACT_NOPOST: return tetragon::KPROBE_ACTION_NOPOST;
    case TGD_ACT_SIGKILL: return tetragon::KPROBE_ACTION_SIGKILL;
    case TGD_ACT_SIGNAL: return tetragon::KPROBE_ACTION_SIGNAL;
    case TGD_ACT_OVERRIDE: return tetragon::KPROBE_ACTION_OVERRIDE;
  }
  return tetragon::KPROBE_ACTION_UNKNOWN;
}

void SetTimestamp(int64_t ns, google::protobuf::Timestamp* t) {
  t->set_seconds(ns / 1000000000);
  t->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

}  // namespace

// ---------------------------------------------------------------- ring buffer

void DispatchBackend::ReaderLoop() {
  while (!stop_.load()) {
    int n = PollOnce(pending_.empty() ? 100 : 10);
    if (n < 0 && n != -EINTR) {
      LOG(ERROR) << "dispatch ring buffer: " << strerror(-n);
      return;
    }
  }
}

int DispatchBackend::PollOnce(int timeout_ms) {
  int n = ring_buffer__poll(rb_.get(), timeout_ms);
  if (n == 0) n = ring_buffer__consume(rb_.get());
  ProcessPending(false);
  return n;
}

void DispatchBackend::Publish(const tgd_policy_event& ev, const ProcessCache::ForEvent* found, bool final) {
  std::optional<tetragon::GetEventsResponse> out = DecodeWith(ev, found);
  if (!out) return;
  if (final && opts_.event_cache_stats) {
    // Sent after holding: count what it still lacks, as Tetragon's
    // event_cache fetch_failures_total does.
    const tetragon::Process* proc = nullptr;
    const tetragon::Process* parent = nullptr;
    const char* type = "PROCESS_TRACEPOINT";
    if (out->has_process_kprobe()) {
      type = "PROCESS_KPROBE";
      proc = &out->process_kprobe().process();
      if (out->process_kprobe().has_parent()) parent = &out->process_kprobe().parent();
    } else if (out->has_process_uprobe()) {
      type = "PROCESS_UPROBE";
      proc = &out->process_uprobe().process();
      if (out->process_uprobe().has_parent()) parent = &out->process_uprobe().parent();
    } else if (out->has_process_usdt()) {
      type = "PROCESS_USDT";
      proc = &out->process_usdt().process();
      if (out->process_usdt().has_parent()) parent = &out->process_usdt().parent();
    } else if (out->has_process_lsm()) {
      type = "PROCESS_LSM";
      proc = &out->process_lsm().process();
      if (out->process_lsm().has_parent()) parent = &out->process_lsm().parent();
    } else {
      proc = &out->process_tracepoint().process();
      if (out->process_tracepoint().has_parent()) parent = &out->process_tracepoint().parent();
    }
    if (proc->exec_id().empty()) {
      opts_.event_cache_stats->Failed(type, kEventCacheProcessInfo);
    } else if (parent == nullptr && !proc->parent_exec_id().empty()) {
      opts_.event_cache_stats->Failed(type, kEventCacheParentInfo);
    } else if (WantsAncestors(ev.policy_id)) {
      bool complete = true;
      opts_.processes->Ancestors(*proc, parent, &complete);
      if (!complete) opts_.event_cache_stats->Failed(type, kEventCacheAncestorsInfo);
    }
  }
  if (opts_.bus) opts_.bus->Publish(std::move(*out));
}

bool DispatchBackend::WantsAncestorsOfKind(int kind) const {
  const AncestorsConfig& a = opts_.ancestors;
  switch (kind) {
    case TGD_HOOK_KPROBE: return a.kprobe;
    case TGD_HOOK_UPROBE: return a.uprobe;
    case TGD_HOOK_LSM: return a.lsm;
    default: return a.tracepoint;
  }
}

bool DispatchBackend::WantsAncestors(uint32_t policy_id) const {
  if (!opts_.ancestors.any_policy()) return false;
  absl::MutexLock l(&mu_);
  auto it = entries_.find(policy_id);
  return it != entries_.end() && WantsAncestorsOfKind(it->second->compiled.kind);
}

bool DispatchBackend::Complete(const tgd_policy_event& ev, const ProcessCache::ForEvent& found,
                               absl::Duration age) const {
  if (found.process == nullptr) return false;
  // A fork not followed (yet) by its exec in the cache is "clone" only: the
  // exec that the policy event follows may still be on its way.
  if (found.exec_may_follow && age < kCloneWait) return false;
  if (found.parent == nullptr && !found.process->parent_exec_id().empty()) return false;
  if (WantsAncestors(ev.policy_id)) {
    bool complete = true;
    opts_.processes->Ancestors(*found.process, found.parent.get(), &complete);
    return complete;
  }
  return true;
}

void DispatchBackend::HandleRecord(const tgd_policy_event& ev) {
  if (!opts_.processes) {
    Publish(ev, nullptr);
    return;
  }
  // The process's exec comes on the base sensor's own ring buffer and may
  // not be decoded yet (a short-lived process is gone from /proc by then):
  // hold the event rather than send it without its process or parent.
  ProcessCache::ForEvent found = opts_.processes->LookupForEvent(ev.pid, ev.ktime);
  if (Complete(ev, found, absl::ZeroDuration())) {
    Publish(ev, &found);
    return;
  }
  if (pending_.size() >= std::max<size_t>(opts_.event_cache.max_held, 1)) {
    // Bounded: the oldest goes out as it is.
    const Pending& old = pending_.front();
    ProcessCache::ForEvent f = opts_.processes->LookupForEvent(old.ev.pid, old.ev.ktime);
    Publish(old.ev, f.process ? &f : nullptr, /*final=*/true);
    pending_.pop_front();
  }
  const absl::Time now = absl::Now();
  pending_.push_back({ev, now, now + opts_.event_cache.retry_delay, 0});
  pending_next_check_ = std::min(pending_next_check_, now + std::min(kCloneWait, opts_.event_cache.retry_delay));
  if (opts_.event_cache_stats) {
    opts_.event_cache_stats->Inserted();
    opts_.event_cache_stats->SetHeld(pending_.size());
  }
}

void DispatchBackend::ProcessPending(bool flush) {
  if (pending_.empty()) return;
  const absl::Time now = absl::Now();
  const uint64_t generation = opts_.processes->generation();
  if (!flush && generation == pending_seen_generation_ && now < pending_next_check_) return;
  pending_seen_generation_ = generation;
  pending_next_check_ = absl::InfiniteFuture();
  const int retries = std::max(opts_.event_cache.retries, 1);
  const absl::Duration delay = std::max(opts_.event_cache.retry_delay, absl::Milliseconds(1));
  std::deque<Pending> keep;
  for (Pending& p : pending_) {
    ProcessCache::ForEvent found = opts_.processes->LookupForEvent(p.ev.pid, p.ev.ktime);
    const absl::Duration age = now - p.added;
    if (Complete(p.ev, found, age)) {
      Publish(p.ev, &found);
      continue;
    }
    while (!flush && now >= p.next_tick && p.failed < retries) {
      ++p.failed;
      p.next_tick += delay;
    }
    if (flush || p.failed >= retries) {
      // As Tetragon after its last retry: sent with what is known, counted.
      Publish(p.ev, found.process ? &found : nullptr, /*final=*/true);
      continue;
    }
    pending_next_check_ = std::min(pending_next_check_, p.next_tick);
    if (found.exec_may_follow) pending_next_check_ = std::min(pending_next_check_, p.added + kCloneWait);
    keep.push_back(p);
  }
  pending_.swap(keep);
  if (opts_.event_cache_stats) opts_.event_cache_stats->SetHeld(pending_.size());
}

// ---------------------------------------------------------------- decoding

std::optional<tetragon::GetEventsResponse> DispatchBackend::Decode(const tgd_policy_event& ev) {
  return DecodeWith(ev, nullptr);
}

std::optional<tetragon::GetEventsResponse> DispatchBackend::DecodeWith(const tgd_policy_event& ev,
                                                                       const ProcessCache::ForEvent* found) {
  // Copy what the event needs under the lock; the policy may go away later.
  std::string name, key, subsystem, event, call, message, binary_path, provider;
  std::vector<std::string> tags;
  std::vector<CompiledArg> args;
  int kind = 0;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(ev.policy_id);
    if (it == entries_.end()) return std::nullopt;  // deleted since: its events are dropped
    const Entry& e = *it->second;
    name = e.policy_name;
    kind = e.compiled.kind;
    subsystem = e.compiled.subsystem;
    event = e.compiled.event;
    call = e.compiled.call;
    binary_path = e.compiled.binary_path;
    provider = e.compiled.usdt_provider;
    message = e.compiled.message;
    tags = e.compiled.tags;
    args = e.compiled.args;
  }
  tetragon::GetEventsResponse out;
  out.set_node_name(opts_.node_name);
  SetTimestamp(boot_wall_ns_ + static_cast<int64_t>(ev.ktime), out.mutable_time());

  tetragon::Process proc;
  std::optional<tetragon::Process> parent;
  std::vector<ProcessPtr> ancestors;
  uint32_t nspid = 0;
  if (opts_.processes) {
    // The process the tgid was at the event's time, and its parent by the
    // process's parent_exec_id (both kept a while after they exit).
    ProcessCache::ForEvent f = found ? *found : opts_.processes->LookupForEvent(ev.pid, ev.ktime);
    if (f.process == nullptr) {
      if (std::optional<ExecRecord> rec = ReadProcProcess("/proc", ev.pid)) {
        f.process = opts_.processes->AddExecShared(*rec);
        f.parent = opts_.processes->GetSharedParent(*f.process);
      }
    }
    if (f.process) proc = *f.process;
    if (f.parent) parent = *f.parent;
    nspid = f.nspid;
    if (f.process && WantsAncestorsOfKind(kind)) {
      bool complete = true;
      for (const ProcessPtr& a : opts_.processes->Ancestors(*f.process, f.parent.get(), &complete)) {
        ancestors.push_back(a);
      }
    }
  }
  if (proc.exec_id().empty()) proc.mutable_pid()->set_value(ev.pid);
  proc.mutable_tid()->set_value(ev.tid);
  if (opts_.enrich && !proc.has_pod()) opts_.enrich(ev.cgroup_id, &proc);
  ProcessCache::SetContainerPid(nspid, &proc);

  google::protobuf::RepeatedPtrField<tetragon::KprobeArgument> pargs;
  uint32_t n = std::min<uint32_t>(ev.n_args, TGD_MAX_ARGS);
  for (uint32_t i = 0; i < n && i < args.size(); ++i) {
    const tgd_arg_val& v = ev.args[i];
    tetragon::KprobeArgument a;
    if (RenderArg(args[i], v, kind, &a)) *pargs.Add() = std::move(a);  // arg_render.cc
  }
  if (kind == TGD_HOOK_LSM) {
    tetragon::ProcessLsm* m = out.mutable_process_lsm();
    *m->mutable_process() = proc;
    if (parent) *m->mutable_parent() = *parent;
    m->set_function_name(call);
    *m->mutable_args() = pargs;
    m->set_action(ToAction(ev.action));
    m->set_policy_name(name);
    m->set_message(message);
    for (const auto& t : tags) m->add_tags(t);
    for (const auto& a : ancestors) *m->add_ancestors() = *a;
  } else if (kind == TGD_HOOK_UPROBE && !provider.empty()) {
    tetragon::ProcessUsdt* u = out.mutable_process_usdt();
    *u->mutable_process() = proc;
    if (parent) *u->mutable_parent() = *parent;
    u->set_path(binary_path);
    u->set_provider(provider);
    u->set_name(call);
    *u->mutable_args() = pargs;
    u->set_action(ToAction(ev.action));
    u->set_policy_name(name);
    u->set_message(message);
    for (const auto& t : tags) u->add_tags(t);
    for (const auto& a : ancestors) *u->add_ancestors() = *a;
  } else if (kind == TGD_HOOK_UPROBE) {
    tetragon::ProcessUprobe* u = out.mutable_process_uprobe();
    *u->mutable_process() = proc;
    if (parent) *u->mutable_parent() = *parent;
    u->set_path(binary_path);
    u->set_symbol(call);
    *u->mutable_args() = pargs;
    u->set_action(ToAction(ev.action));
    u->set_policy_name(name);
    u->set_message(message);
    for (const auto& t : tags) u->add_tags(t);
    for (const auto& a : ancestors) *u->add_ancestors() = *a;
  } else if (kind == TGD_HOOK_KPROBE) {
    tetragon::ProcessKprobe* k = out.mutable_process_kprobe();
    *k->mutable_process() = proc;
    if (parent) *k->mutable_parent() = *parent;
    k->set_function_name(call);
    *k->mutable_args() = pargs;
    k->set_action(ToAction(ev.action));
    k->set_policy_name(name);
    k->set_message(message);
    for (const auto& t : tags) k->add_tags(t);
    for (const auto& a : ancestors) *k->add_ancestors() = *a;
  } else {
    tetragon::ProcessTracepoint* t = out.mutable_process_tracepoint();
    *t->mutable_process() = proc;
    if (parent) *t->mutable_parent() = *parent;
    t->set_subsys(subsystem);
    t->set_event(event);
    *t->mutable_args() = pargs;
    t->set_policy_name(name);
    t->set_action(ToAction(ev.action));
    t->set_message(message);
    for (const auto& tag : tags) t->add_tags(tag);
    for (const auto& a : ancestors) *t->add_ancestors() = *a;
  }
  return out;
}

}  // namespace tgd
