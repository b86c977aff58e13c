// ProcessSensor implementation.
#include "sensor/process/process_sensor.h"

#include <bpf/bpf.h>
#include <glog/logging.h>
#include <string.h>
#include <time.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bpf/process/process_sensor.skel.h"
#include "sensor/base/errno_status.h"
#include "sensor/process/proc_walk.h"

namespace tgd {
namespace {

int64_t Ns(const timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? absl::StrCat("SIG", abbrev) : absl::StrCat("SIG", sig);
}

void SetTime(int64_t wall_ns, google::protobuf::Timestamp* ts) {
  ts->set_seconds(wall_ns / 1000000000);
  ts->set_nanos(static_cast<int32_t>(wall_ns % 1000000000));
}

// Points `out` at the cached ancestors of `process` (see
// ProcessCache::Ancestors); false when the chain is incomplete.
bool AddAncestors(const ProcessCache& cache, const tetragon::Process& process, const tetragon::Process* parent,
                  EventBuilder* b, google::protobuf::RepeatedPtrField<tetragon::Process>* out) {
  bool complete = true;
  for (ProcessPtr& a : cache.Ancestors(process, parent, &complete)) out->UnsafeArenaAddAllocated(b->Keep(std::move(a)));
  return complete;
}

int OnRecord(void* ctx, void* data, size_t size) {
  if (size < sizeof(tgd_proc_msg)) return 0;
  static_cast<ProcessSensor*>(ctx)->Handle(*static_cast<const tgd_proc_msg*>(data));
  return 0;
}

}  // namespace

int64_t MonotonicToWallOffsetNs() {
  timespec real, mono;
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  return Ns(real) - Ns(mono);
}

ProcessSensor::ProcessSensor(ProcessSensorOptions opts)
    : opts_(std::move(opts)), boot_wall_ns_(MonotonicToWallOffsetNs()) {}

absl::StatusOr<std::unique_ptr<ProcessSensor>> ProcessSensor::Start(ProcessSensorOptions opts) {
  if (opts.bus == nullptr || opts.cache == nullptr) {
    return absl::InvalidArgumentError("ProcessSensor needs an event bus and a process cache");
  }
  InstallLibbpfLogging();
  auto s = std::unique_ptr<ProcessSensor>(new ProcessSensor(std::move(opts)));
  s->skel_.reset(process_sensor::open());
  if (!s->skel_) return ErrnoStatus(errno, "open process sensor");
  int err = process_sensor::load(s->skel_.get());
  if (err) return LibbpfStatus(err, "load process sensor");
  if (s->opts_.enrich_version) s->opts_.cache->SetEnrichVersion(s->opts_.enrich_version);
  // Attach, then walk /proc, then decode: a process that forks or execs
  // while the walk runs is in the ring (its records wait there), and one
  // that predates the sensor is in /proc. Both may see a process; the
  // cache keeps one entry for it (ProcessCache, "/proc reads and ring
  // records"). Records beyond the ring's 2 MB meanwhile are counted lost.
  err = process_sensor::attach(s->skel_.get());
  if (err) return LibbpfStatus(err, "attach process sensor");
  s->rb_.reset(ring_buffer__new(bpf_map__fd(s->skel_->maps.tgd_proc_events), OnRecord, s.get(), nullptr));
  if (!s->rb_) return ErrnoStatus(errno, "ring_buffer__new");
  if (s->opts_.after_attach) s->opts_.after_attach();
  if (s->opts_.walk_proc) {
    for (const ExecRecord& r : ReadProcProcesses()) s->opts_.cache->AddExec(r);
  }
  s->reader_ = std::thread([p = s.get()] { p->Run(); });
  return s;
}

ProcessSensor::~ProcessSensor() {
  stop_ = true;
  if (reader_.joinable()) reader_.join();
}

void ProcessSensor::Run() {
  while (!stop_) {
    int n = ring_buffer__poll(rb_.get(), 100);
    if (n < 0 && n != -EINTR) {
      LOG(ERROR) << "process sensor ring buffer: " << ErrnoStatus(n, "ring_buffer__poll");
      return;
    }
  }
}

uint64_t ProcessSensor::lost() const {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return 0;
  std::vector<uint64_t> values(ncpu);
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tgd_proc_lost), &zero, values.data()) != 0) return 0;
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  return sum;
}

void ProcessSensor::Handle(const tgd_proc_msg& m) {
  ProcessCache& cache = *opts_.cache;
  switch (m.op) {
    case TGD_PROC_MSG_EXEC: {
      ExecRecord r;
      r.pid = m.pid;
      r.tid = m.tid;
      r.ppid = m.ppid;
      r.ktime = m.ktime;
      r.uid = m.uid;
      r.gid = m.gid;
      r.euid = m.euid;
      r.egid = m.egid;
      r.auid = m.auid;
      r.cgroup_id = m.cgroup_id;
      r.nspid = m.nspid;
      r.cap_permitted = m.cap_permitted;
      r.cap_effective = m.cap_effective;
      r.cap_inheritable = m.cap_inheritable;
      r.ns.assign(m.ns, m.ns + TGD_PROC_NS_COUNT);
      r.binary.assign(m.filename, std::min<size_t>(m.filename_len, sizeof(m.filename) - 1));
      r.cwd.assign(m.cwd, std::min<size_t>(m.cwd_len, sizeof(m.cwd) - 1));
      r.arguments = JoinArguments(m.args, std::min<size_t>(m.args_len, sizeof(m.args)));
      r.flags = "execve";  // AddExecEnriched adds " clone" for a fork not yet exec'd
      if (m.flags & TGD_PROC_TRUNC_FILENAME) r.flags += " truncFilename";
      if (m.flags & TGD_PROC_TRUNC_ARGS) r.flags += " truncArgs";
      if (m.flags & TGD_PROC_ERR_ARGS) r.flags += " errorArgs";
      if (m.flags & TGD_PROC_TRUNC_CWD) r.flags += " noCWDSupport";
      // The event's process is the cached one as enriched (pod info); the
      // parent is the cached one as is.
      ProcessCache::Shown shown = cache.AddExecEnriched(std::move(r), m.cgroup_id, opts_.enrich,
                                                        /*flag_clone=*/true);
      EventBuilder b;
      tetragon::GetEventsResponse& ev = *b.event();
      auto* exec = ev.mutable_process_exec();
      if (opts_.ancestors && !AddAncestors(cache, *shown.process, shown.parent.get(), &b, exec->mutable_ancestors()) &&
          opts_.event_cache_stats) {
        opts_.event_cache_stats->Failed("PROCESS_EXEC", kEventCacheAncestorsInfo);
      }
      exec->unsafe_arena_set_allocated_process(b.Keep(std::move(shown.process)));
      if (shown.parent != nullptr) exec->unsafe_arena_set_allocated_parent(b.Keep(std::move(shown.parent)));
      ev.set_node_name(cache.node_name());
      SetTime(boot_wall_ns_ + static_cast<int64_t>(m.ktime), ev.mutable_time());
      ++execs_;
      opts_.bus->Publish(std::move(b).Finish());
      break;
    }
    case TGD_PROC_MSG_EXIT: {
      EventBuilder b;
      tetragon::GetEventsResponse& ev = *b.event();
      auto* exit = ev.mutable_process_exit();
      if (auto shown = cache.ExitEnriched(m.pid, m.cgroup_id, opts_.enrich, m.ktime); shown.has_value()) {
        if (shown->parent != nullptr) {
          exit->unsafe_arena_set_allocated_parent(b.Keep(std::move(shown->parent)));
        } else if (opts_.event_cache_stats && !shown->process->parent_exec_id().empty()) {
          opts_.event_cache_stats->Failed("PROCESS_EXIT", kEventCacheParentInfo);
        }
        if (opts_.ancestors &&
            !AddAncestors(cache, *shown->process, exit->has_parent() ? &exit->parent() : nullptr, &b,
                          exit->mutable_ancestors()) &&
            opts_.event_cache_stats) {
          opts_.event_cache_stats->Failed("PROCESS_EXIT", kEventCacheAncestorsInfo);
        }
        exit->unsafe_arena_set_allocated_process(b.Keep(std::move(shown->process)));
      } else {
        // Not in the cache (started and exec'd before we saw it), or an
        // older process with the pid of one the /proc walk found.
        exit->mutable_process()->mutable_pid()->set_value(m.pid);
        exit->mutable_process()->set_flags("unknown");
        if (opts_.enrich) opts_.enrich(m.cgroup_id, exit->mutable_process());
        if (opts_.event_cache_stats) opts_.event_cache_stats->Failed("PROCESS_EXIT", kEventCacheProcessInfo);
      }
      int sig = m.exit_code & 0x7f;
      if (sig != 0) exit->set_signal(SignalName(sig));
      exit->set_status((m.exit_code >> 8) & 0xff);
      SetTime(boot_wall_ns_ + static_cast<int64_t>(m.ktime), exit->mutable_time());
      ev.set_node_name(cache.node_name());
      *ev.mutable_time() = exit->time();
      ++exits_;
      opts_.bus->Publish(std::move(b).Finish());
      break;
    }
    case TGD_PROC_MSG_CLONE:
      cache.AddCloneLazy(m.pid, m.ppid, m.ktime, nullptr, m.nspid);
      break;
    default:
      VLOG(1) << "process sensor: unknown record op " << int{m.op};
  }
}

}  // namespace tgd
