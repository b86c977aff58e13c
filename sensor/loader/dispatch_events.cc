// DispatchBackend's event side: the ring buffer reader (records wait for
// their process's exec in the process cache) and the decoding of a
// tgd_policy_event into a Tetragon process_tracepoint / process_kprobe /
// process_uprobe / process_lsm event.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sensor/loader/arg_render.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/process/proc_walk.h"
#include "bpf/dispatch/dispatch.skel.h"

namespace tgd {
namespace {

tetragon::KprobeAction ToAction(uint32_t a) {
  switch (a) {
    case TGD_ACT_POST: return tetragon::KPROBE_ACTION_POST;
    case TGD_ACT_NOPOST: return tetragon::KPROBE_ACTION_NOPOST;
    case TGD_ACT_SIGKILL: return tetragon::KPROBE_ACTION_SIGKILL;
    case TGD_ACT_SIGNAL: return tetragon::KPROBE_ACTION_SIGNAL;
    case TGD_ACT_OVERRIDE: return tetragon::KPROBE_ACTION_OVERRIDE;
    case TGD_ACT_GETURL: return tetragon::KPROBE_ACTION_GETURL;
    case TGD_ACT_DNSLOOKUP: return tetragon::KPROBE_ACTION_DNSLOOKUP;
    case TGD_ACT_TRACKSOCK: return tetragon::KPROBE_ACTION_TRACKSOCK;
    case TGD_ACT_UNTRACKSOCK: return tetragon::KPROBE_ACTION_UNTRACKSOCK;
  }
  return tetragon::KPROBE_ACTION_UNKNOWN;
}

void SetTimestamp(int64_t ns, google::protobuf::Timestamp* t) {
  t->set_seconds(ns / 1000000000);
  t->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void AddFrames(const std::vector<StackFrame>& frames,
               google::protobuf::RepeatedPtrField<tetragon::StackTraceEntry>* out) {
  for (const StackFrame& f : frames) {
    tetragon::StackTraceEntry* e = out->Add();
    e->set_address(f.address);
    e->set_offset(f.offset);
    e->set_symbol(f.symbol);
    e->set_module(f.module);
  }
}

}  // namespace

// The stacks a Post with kernelStackTrace/userStackTrace captured, read from
// tgd_stacks and symbolized now (a user stack needs the process's mappings:
// a process gone by then yields no user frames). A failed capture (-EEXIST:
// the map's bucket holds another stack; -EFAULT: no stack, e.g. the kernel
// stack of a uprobe) has no frames, as in Tetragon.
DispatchBackend::StackPair DispatchBackend::Stacks(const tgd_policy_event& ev) {
  {
    absl::MutexLock l(&stacks_mu_);
    auto it = held_stacks_.find({ev.policy_id, ev.tid, ev.ktime});
    if (it != held_stacks_.end()) {
      StackPair out = std::move(it->second);
      held_stacks_.erase(it);
      return out;
    }
  }
  return ReadStacks(ev);
}

DispatchBackend::StackPair DispatchBackend::ReadStacks(const tgd_policy_event& ev) {
  StackPair out;
  if (!(ev.flags & (TGD_EVF_KSTACK | TGD_EVF_USTACK)) || symbolizer_ == nullptr) return out;
  std::vector<uint64_t> ips(TGD_STACK_DEPTH);
  const int fd = bpf_map__fd(shared_->maps.tgd_stacks);
  if ((ev.flags & TGD_EVF_KSTACK) && ev.kernel_stack_id >= 0) {
    uint32_t id = static_cast<uint32_t>(ev.kernel_stack_id);
    if (bpf_map_lookup_elem(fd, &id, ips.data()) == 0) out.first = symbolizer_->Kernel(ips.data(), ips.size());
  }
  if ((ev.flags & TGD_EVF_USTACK) && ev.user_stack_id >= 0) {
    uint32_t id = static_cast<uint32_t>(ev.user_stack_id);
    std::fill(ips.begin(), ips.end(), 0);
    if (bpf_map_lookup_elem(fd, &id, ips.data()) == 0) out.second = symbolizer_->User(ev.tid, ips.data(), ips.size());
  }
  return out;
}

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

void DispatchBackend::Publish(const tgd_policy_event& ev, const ProcessCache::ForEvent* found, bool final,
                              std::shared_ptr<const tgd_policy_event> ret) {
  std::optional<tetragon::GetEventsResponse> out = DecodeWith(ev, found, ret.get());
  chunks_.Release(ev.data_id);
  if (ret) chunks_.Release(ret->data_id);
  if (ev.flags & TGD_EVF_USTACK) {  // not taken when the policy went away meanwhile
    absl::MutexLock l(&stacks_mu_);
    held_stacks_.erase({ev.policy_id, ev.tid, ev.ktime});
  }
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
  if (HashLater(ev, &*out)) return;  // imaHash: published by the hasher
  if (opts_.bus) opts_.bus->Publish(std::move(*out));
}

bool DispatchBackend::WantsAncestorsOfKind(int kind, bool usdt) const {
  const AncestorsConfig& a = opts_.ancestors;
  switch (kind) {
    case TGD_HOOK_KPROBE: return a.kprobe;
    case TGD_HOOK_UPROBE: return usdt ? a.usdt : a.uprobe;
    case TGD_HOOK_LSM: return a.lsm;
    default: return a.tracepoint;
  }
}

bool DispatchBackend::WantsAncestors(uint32_t policy_id) const {
  if (!opts_.ancestors.any_policy()) return false;
  absl::MutexLock l(&mu_);
  auto it = entries_.find(policy_id);
  return it != entries_.end() && WantsAncestorsOfKind(it->second->compiled.kind, !it->second->compiled.usdt_provider.empty());
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

void DispatchBackend::RunUserActions(const tgd_policy_event& ev) {
  if (user_actions_ == nullptr) return;
  const int sel = static_cast<int>((ev.flags >> TGD_EVF_SEL_SHIFT) & TGD_EVF_SEL_MASK);
  std::vector<CompiledHook::UserAction> todo;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(ev.policy_id);
    if (it == entries_.end()) return;
    for (const CompiledHook::UserAction& a : it->second->compiled.user_actions) {
      if (a.sel == sel) todo.push_back(a);
    }
  }
  for (CompiledHook::UserAction& a : todo) {
    user_actions_->Submit(a.kind == TGD_ACT_GETURL ? UserActionKind::kGetUrl : UserActionKind::kDnsLookup,
                          std::move(a.arg));
  }
}

int DispatchBackend::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<DispatchBackend*>(ctx);
  if (size >= sizeof(uint32_t) && *static_cast<const uint32_t*>(data) == TGD_EV_DATA) {
    self->chunks_.AddChunk(data, size);  // a long buffer's chunk, ahead of its event
    return 0;
  }
  if (size < TGD_EVENT_WIRE_SIZE) return 0;
  tgd_policy_event ev;
  memcpy(&ev, data, TGD_EVENT_WIRE_SIZE);  // the scratch tail is not sent
  self->HandleRecord(ev);
  self->posted_.fetch_add(1);
  return 0;
}

void DispatchBackend::HandleRecord(const tgd_policy_event& rec) {
  // Return probes: an entry event waits for its return event (as Tetragon:
  // one event, sent when both are there; an entry whose return never comes
  // is dropped when the bounded cache overflows, a return without its entry
  // gives nothing).
  // As Tetragon, when the event is received, before it waits for its
  // process: queued, done by the workers, never blocking this reader.
  RunUserActions(rec);
  chunks_.Finish(rec);  // its long buffers, whose chunks came first
  std::shared_ptr<const tgd_policy_event> ret;
  const tgd_policy_event* evp = &rec;
  std::shared_ptr<const tgd_policy_event> entry;
  if (rec.flags & TGD_EVF_RET_ENTRY) {
    RetKey k{rec.tid, rec.policy_id, rec.ktime};
    if (ret_pending_.size() >= kRetPendingMax) {
      while (!ret_order_.empty() && ret_pending_.erase(ret_order_.front()) == 0) ret_order_.pop_front();
      if (!ret_order_.empty()) ret_order_.pop_front();
    }
    ret_pending_[k] = std::make_shared<const tgd_policy_event>(rec);
    ret_order_.push_back(k);
    if (ret_order_.size() > 2 * kRetPendingMax) {  // keys merged long ago
      std::deque<RetKey> live;
      for (const RetKey& o : ret_order_) {
        if (ret_pending_.count(o)) live.push_back(o);
      }
      ret_order_.swap(live);
    }
    return;
  }
  if (rec.flags & TGD_EVF_RETURN) {
    uint32_t pair = 0;
    {
      absl::MutexLock l(&mu_);
      auto it = entries_.find(rec.policy_id);
      if (it == entries_.end()) {
        chunks_.Release(rec.data_id);
        return;
      }
      pair = it->second->compiled.cfg.pair_id;
    }
    auto it = ret_pending_.find(RetKey{rec.tid, pair, rec.ktime});
    if (it == ret_pending_.end()) {
      chunks_.Release(rec.data_id);  // a return without its entry gives nothing
      return;
    }
    entry = it->second;
    ret_pending_.erase(it);
    ret = std::make_shared<const tgd_policy_event>(rec);
    evp = entry.get();
  }
  const tgd_policy_event& ev = *evp;
  if (!opts_.processes) {
    Publish(ev, nullptr, false, ret);
    return;
  }
  // The process's exec comes on the base sensor's own ring buffer and may
  // not be decoded yet (a short-lived process is gone from /proc by then):
  // hold the event rather than send it without its process or parent.
  ProcessCache::ForEvent found = opts_.processes->LookupForEvent(ev.pid, ev.ktime);
  if (Complete(ev, found, absl::ZeroDuration())) {
    Publish(ev, &found, false, ret);
    return;
  }
  if (pending_.size() >= std::max<size_t>(opts_.event_cache.max_held, 1)) {
    // Bounded: the oldest goes out as it is.
    const Pending& old = pending_.front();
    ProcessCache::ForEvent f = opts_.processes->LookupForEvent(old.ev.pid, old.ev.ktime);
    Publish(old.ev, f.process ? &f : nullptr, /*final=*/true, old.ret);
    pending_.pop_front();
  }
  const absl::Time now = absl::Now();
  if (ev.flags & TGD_EVF_USTACK) {  // symbolized now, while the process is likely still there
    StackPair st = ReadStacks(ev);
    absl::MutexLock l(&stacks_mu_);
    held_stacks_[{ev.policy_id, ev.tid, ev.ktime}] = std::move(st);
  }
  pending_.push_back({ev, now, now + opts_.event_cache.retry_delay, 0, ret});
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
      Publish(p.ev, &found, false, p.ret);
      continue;
    }
    while (!flush && now >= p.next_tick && p.failed < retries) {
      ++p.failed;
      p.next_tick += delay;
    }
    if (flush || p.failed >= retries) {
      // As Tetragon after its last retry: sent with what is known, counted.
      Publish(p.ev, found.process ? &found : nullptr, /*final=*/true, p.ret);
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
                                                                       const ProcessCache::ForEvent* found,
                                                                       const tgd_policy_event* ret) {
  // Copy what the event needs under the lock; the policy may go away later.
  std::string name, key, subsystem, event, call, message, binary_path, provider;
  std::vector<std::string> tags;
  std::vector<CompiledArg> args, ret_args;
  int ret_arg_pos = -1, copy_pos = -1, copy_entry_pos = -1;
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
    if (ret) {
      auto rit = entries_.find(ret->policy_id);
      if (rit == entries_.end()) return std::nullopt;
      const CompiledHook& rc = rit->second->compiled;
      ret_args = rc.args;
      ret_arg_pos = rc.ret_arg_pos;
      copy_pos = rc.copy_pos;
      copy_entry_pos = rc.copy_entry_pos;
    }
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
    if (f.process && WantsAncestorsOfKind(kind, !provider.empty())) {
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

  google::protobuf::RepeatedPtrField<tetragon::KprobeArgument> pargs, pdata;  // data: kprobes' and uprobes' `data`
  uint32_t n = std::min<uint32_t>(ev.n_args, TGD_MAX_ARGS);
  std::optional<tetragon::KprobeArgument> ret_arg;
  const uint32_t rn = ret ? std::min<uint32_t>(ret->n_args, TGD_MAX_ARGS) : 0;
  const EventBuffers bufs = chunks_.Get(ev);  // long buffers (data chunks)
  const EventBuffers ret_bufs = ret ? chunks_.Get(*ret) : EventBuffers{};
  for (uint32_t i = 0; i < n && i < args.size(); ++i) {
    const bool copied = ret && static_cast<int>(i) == copy_entry_pos && copy_pos >= 0 &&
                        static_cast<uint32_t>(copy_pos) < rn && static_cast<size_t>(copy_pos) < ret_args.size();
    const tgd_arg_val& v = copied ? ret->args[copy_pos] : ev.args[i];
    const BufferData& data = copied ? ret_bufs[copy_pos] : bufs[i];
    tetragon::KprobeArgument a;
    if (RenderArg(copied ? ret_args[copy_pos] : args[i], v, kind, &a, &data)) {  // arg_render.cc
      *(args[i].data ? pdata.Add() : pargs.Add()) = std::move(a);
    }
  }
  if (ret && ret_arg_pos >= 0 && static_cast<uint32_t>(ret_arg_pos) < rn &&
      static_cast<size_t>(ret_arg_pos) < ret_args.size()) {
    tetragon::KprobeArgument a;
    if (RenderArg(ret_args[ret_arg_pos], ret->args[ret_arg_pos], kind, &a)) ret_arg = std::move(a);
  }
  // Uprobe events have no `return`: Tetragon appends the return value to
  // the arguments.
  if (ret_arg && kind == TGD_HOOK_UPROBE) *pargs.Add() = *ret_arg;
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
    *u->mutable_data() = pdata;
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
    *k->mutable_data() = pdata;
    k->set_action(ToAction(ev.action));
    if (ret_arg) *k->mutable_return_() = *ret_arg;
    if (ret) k->set_return_action(ToAction(ret->action));
    k->set_policy_name(name);
    k->set_message(message);
    for (const auto& t : tags) k->add_tags(t);
    for (const auto& a : ancestors) *k->add_ancestors() = *a;
    auto [kernel_stack, user_stack] = Stacks(ev);
    AddFrames(kernel_stack, k->mutable_kernel_stack_trace());
    AddFrames(user_stack, k->mutable_user_stack_trace());
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
    if (opts_.test_on_tracepoint_stacks && (ev.flags & (TGD_EVF_KSTACK | TGD_EVF_USTACK))) {
      auto [kernel_stack, user_stack] = Stacks(ev);
      opts_.test_on_tracepoint_stacks(ev.policy_id, kernel_stack, user_stack);
    }
  }
  return out;
}

}  // namespace tgd
