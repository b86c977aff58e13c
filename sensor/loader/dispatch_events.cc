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

void DispatchBackend::Publish(const tgd_policy_event& ev, std::optional<tetragon::Process> known) {
  std::optional<tetragon::GetEventsResponse> out = DecodeWith(ev, std::move(known));
  if (out && opts_.bus) opts_.bus->Publish(std::move(*out));
}

void DispatchBackend::HandleRecord(const tgd_policy_event& ev) {
  // The process's exec comes on the base sensor's own ring buffer and may
  // not be decoded yet (a short-lived process is gone from /proc by then):
  // hold the event briefly rather than send it without its process.
  if (opts_.processes && !pending_.empty()) {
    pending_.push_back({ev, absl::Now() + kPendingWait});
    return;
  }
  std::optional<tetragon::Process> known;
  if (opts_.processes && !(known = ReadyProcess(ev.pid))) {
    pending_.push_back({ev, absl::Now() + kPendingWait});
    return;
  }
  Publish(ev, std::move(known));
}

std::optional<tetragon::Process> DispatchBackend::ReadyProcess(uint32_t pid) const {
  // A fork not followed (yet) by its exec in the cache is "clone" only: the
  // exec that the policy event follows may still be on its way.
  std::optional<tetragon::Process> p = opts_.processes->GetForEvent(pid);
  if (p && p->flags() == "clone") return std::nullopt;
  return p;
}

void DispatchBackend::ProcessPending(bool flush) {
  // In order: an event waits for the ones before it.
  absl::Time now = absl::Now();
  while (!pending_.empty()) {
    const Pending& p = pending_.front();
    std::optional<tetragon::Process> known = ReadyProcess(p.ev.pid);
    if (!flush && p.deadline > now && !known) break;
    Publish(p.ev, std::move(known));
    pending_.pop_front();
  }
}

// ---------------------------------------------------------------- decoding

std::optional<tetragon::GetEventsResponse> DispatchBackend::Decode(const tgd_policy_event& ev) {
  return DecodeWith(ev, std::nullopt);
}

std::optional<tetragon::GetEventsResponse> DispatchBackend::DecodeWith(const tgd_policy_event& ev,
                                                                       std::optional<tetragon::Process> known) {
  // Copy what the event needs under the lock; the policy may go away later.
  std::string name, key, subsystem, event, call, message, binary_path;
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
    message = e.compiled.message;
    tags = e.compiled.tags;
    args = e.compiled.args;
  }
  tetragon::GetEventsResponse out;
  out.set_node_name(opts_.node_name);
  SetTimestamp(boot_wall_ns_ + static_cast<int64_t>(ev.ktime), out.mutable_time());

  tetragon::Process proc;
  std::optional<tetragon::Process> parent;
  if (opts_.processes) {
    std::optional<tetragon::Process> p = known ? std::move(known) : opts_.processes->GetForEvent(ev.pid);
    if (!p) {
      if (std::optional<ExecRecord> rec = ReadProcProcess("/proc", ev.pid)) p = opts_.processes->AddExec(*rec);
    }
    if (p) {
      proc = *p;
      parent = opts_.processes->GetParent(p->exec_id());
    }
  }
  if (proc.exec_id().empty()) proc.mutable_pid()->set_value(ev.pid);
  proc.mutable_tid()->set_value(ev.tid);
  if (opts_.enrich && !proc.has_pod()) opts_.enrich(ev.cgroup_id, &proc);

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
  }
  return out;
}

}  // namespace tgd
