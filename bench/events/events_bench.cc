// Event pipeline throughput: ring-buffer records (tgd_proc_msg) decoded by
// the real base process sensor (ProcessSensor::Handle -> ProcessCache ->
// EventBus), drained from a bus subscription and encoded as export JSON lines
// (sensor/export), single-threaded. Mix per cycle of 10 events: 6
// process_exec, 3 process_exit, 1 process_tracepoint with arguments, from 3
// processes that each clone, exec twice (sh -c exec ...), and exit.
//
// Handle needs a loaded sensor, so BM_Pipeline needs root/CAP_BPF (the
// programs attach machine-wide; the few real events they deliver meanwhile
// are drained and encoded too). The component benchmarks need nothing.
#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/events.pb.h"
#include "benchmark/benchmark.h"
#include "bpf/process/process_msg.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/export/json_encoder.h"
#include "sensor/process/process_cache.h"
#include "sensor/process/process_sensor.h"

namespace tgd {
namespace {

constexpr uint32_t kParentPid = 3999000;  // a long-lived parent (a container shim)
constexpr uint32_t kFirstPid = 4000000;

void SetString(char* dst, size_t cap, uint16_t* len, absl::string_view s) {
  size_t n = std::min(s.size(), cap - 1);
  memcpy(dst, s.data(), n);
  dst[n] = '\0';
  *len = static_cast<uint16_t>(n);
}

// Records as the BPF side writes them.
class RecordFactory {
 public:
  tgd_proc_msg Clone(uint32_t pid, uint32_t ppid) {
    tgd_proc_msg m = Base(TGD_PROC_MSG_CLONE, pid, ppid);
    return m;
  }
  tgd_proc_msg Exec(uint32_t pid, uint32_t ppid, absl::string_view binary,
                    const std::vector<std::string>& argv) {
    tgd_proc_msg m = Base(TGD_PROC_MSG_EXEC, pid, ppid);
    SetString(m.filename, sizeof(m.filename), &m.filename_len, binary);
    SetString(m.cwd, sizeof(m.cwd), &m.cwd_len, "/home/app/workdir");
    size_t off = 0;
    for (const std::string& a : argv) {
      size_t n = std::min(a.size(), sizeof(m.args) - off - 1);
      memcpy(m.args + off, a.data(), n);
      off += n;
      m.args[off++] = '\0';
    }
    m.args_len = static_cast<uint16_t>(off);
    return m;
  }
  tgd_proc_msg Exit(uint32_t pid, uint32_t ppid, uint32_t wait_status) {
    tgd_proc_msg m = Base(TGD_PROC_MSG_EXIT, pid, ppid);
    m.exit_code = wait_status;
    return m;
  }

 private:
  tgd_proc_msg Base(uint8_t op, uint32_t pid, uint32_t ppid) {
    tgd_proc_msg m;
    memset(&m, 0, sizeof(m));
    m.op = op;
    m.ktime = ktime_ += 13457;
    m.pid = m.tid = pid;
    m.ppid = ppid;
    m.uid = m.euid = 1000;
    m.gid = m.egid = 1000;
    m.auid = 4294967295u;
    m.cgroup_id = 8812;
    m.cap_permitted = m.cap_effective = 0x00000000a80425fbull;
    for (int i = 0; i < TGD_PROC_NS_COUNT; ++i) m.ns[i] = 4026531835u + i;
    return m;
  }
  uint64_t ktime_ = 1000000000000ull;
};

// Adds a pod to every process, as the workload registry does in a cluster.
void EnrichWithPod(uint64_t, tetragon::Process* p) {
  auto* pod = p->mutable_pod();
  pod->set_namespace_("shop");
  pod->set_name("checkout-7d9f8c6b5-x2x4q");
  pod->set_workload("checkout");
  pod->set_workload_kind("Deployment");
  (*pod->mutable_pod_labels())["app"] = "checkout";
  auto* c = pod->mutable_container();
  c->set_id("containerd://3f2a9c0b1d2e");
  c->set_name("checkout");
  c->mutable_image()->set_name("registry.example.com/shop/checkout:1.42.0");
  p->set_docker("3f2a9c0b1d2e");
}

// A policy event as the datapath decoder will build it: process and parent
// from the cache, arguments decoded from the BPF record.
void FillTracepoint(const std::string& node, uint64_t n, tetragon::GetEventsResponse* ev) {
  auto* tp = ev->mutable_process_tracepoint();
  tp->set_subsys("syscalls");
  tp->set_event("sys_enter_openat");
  tp->add_args()->set_int_arg(-100);
  tp->add_args()->set_string_arg(absl::StrCat("/etc/app/secrets/token-", n % 64));
  tp->add_args()->set_int_arg(0x80000);
  tp->add_args()->set_size_arg(0);
  tp->set_policy_name("watch-secrets");
  tp->set_action(tetragon::KPROBE_ACTION_POST);
  ev->set_node_name(node);
  ev->mutable_time()->set_seconds(1732356000 + static_cast<int64_t>(n / 1000000));
  ev->mutable_time()->set_nanos(static_cast<int32_t>(n % 1000000000));
}

// With copies of the cached processes (for the encoder benchmarks).
tetragon::GetEventsResponse Tracepoint(const ProcessCache& cache, uint32_t pid, uint64_t n) {
  tetragon::GetEventsResponse ev;
  auto* tp = ev.mutable_process_tracepoint();
  if (auto p = cache.GetByTgid(pid); p.has_value()) {
    if (auto parent = cache.GetParent(p->exec_id()); parent.has_value()) {
      *tp->mutable_parent() = *std::move(parent);
    }
    *tp->mutable_process() = *std::move(p);
  }
  EnrichWithPod(0, tp->mutable_process());
  FillTracepoint(cache.node_name(), n, &ev);
  return ev;
}

// As the pipeline does: pointing at the shared cached processes.
EventBus::Event SharedTracepoint(ProcessCache& cache, uint32_t pid, uint64_t n) {
  EventBuilder b;
  auto* tp = b.event()->mutable_process_tracepoint();
  if (auto shown = cache.GetEnrichedByTgid(pid, 8812, EnrichWithPod); shown.has_value()) {
    if (shown->parent != nullptr) tp->unsafe_arena_set_allocated_parent(b.Keep(std::move(shown->parent)));
    tp->unsafe_arena_set_allocated_process(b.Keep(std::move(shown->process)));
  }
  FillTracepoint(cache.node_name(), n, b.event());
  return std::move(b).Finish();
}

class Pipeline {
 public:
  // `versioned`: the enricher comes with a version number
  // (ProcessSensorOptions::enrich_version) that does not change here.
  static std::unique_ptr<Pipeline> Create(bool versioned, std::string* error) {
    auto p = std::unique_ptr<Pipeline>(new Pipeline());
    ProcessSensorOptions o;
    o.bus = &p->bus_;
    o.cache = &p->cache_;
    o.walk_proc = false;
    o.enrich = EnrichWithPod;
    if (versioned) o.enrich_version = [] { return uint64_t{1}; };
    auto s = ProcessSensor::Start(std::move(o));
    if (!s.ok()) {
      *error = absl::StrCat("needs root/CAP_BPF to load the base process sensor: ", s.status().ToString());
      return nullptr;
    }
    p->sensor_ = *std::move(s);
    p->sub_ = p->bus_.Subscribe(1 << 16);
    p->sensor_->Handle(p->records_.Exec(kParentPid, 1, "/usr/bin/containerd-shim-runc-v2",
                                        {"containerd-shim-runc-v2", "-namespace", "k8s.io", "-id",
                                         "3f2a9c0b1d2e", "-address", "/run/containerd/containerd.sock"}));
    return p;
  }

  // One cycle: 3 processes x (clone, exec sh, exec curl, exit) + 1
  // tracepoint = 10 events. Returns the JSON bytes written.
  size_t Cycle() {
    for (int k = 0; k < 3; ++k) {
      uint32_t pid = kFirstPid + static_cast<uint32_t>(next_++ % 400000);
      sensor_->Handle(records_.Clone(pid, kParentPid));
      sensor_->Handle(records_.Exec(pid, kParentPid, "/bin/sh",
                                    {"sh", "-c", "exec curl -s https://api.example.com/v1/items?id=12345"}));
      sensor_->Handle(records_.Exec(pid, kParentPid, "/usr/bin/curl",
                                    {"curl", "-s", "https://api.example.com/v1/items?id=12345", "-H",
                                     "Accept: application/json"}));
      if (k == 2) bus_.Publish(SharedTracepoint(cache_, pid, next_));
      sensor_->Handle(records_.Exit(pid, kParentPid, k == 1 ? 9 : 0));
    }
    return Drain();
  }

  size_t Drain() {
    size_t bytes = 0;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::InfinitePast())) {
      line_.clear();
      if (!AppendMessageJson(*ev, &line_).ok()) abort();
      line_.push_back('\n');
      bytes += line_.size();
      ++events_;
    }
    return bytes;
  }
  uint64_t events() const { return events_; }
  uint64_t dropped() const { return sub_->dropped(); }

 private:
  Pipeline() : cache_("bench-node", 65536, MonotonicToWallOffsetNs()) {}
  EventBus bus_;
  ProcessCache cache_;
  std::unique_ptr<ProcessSensor> sensor_;
  std::unique_ptr<EventBus::Subscription> sub_;
  RecordFactory records_;
  uint64_t next_ = 0;
  uint64_t events_ = 0;
  std::string line_;
};

void BM_Pipeline(benchmark::State& state) {
  std::string error;
  auto p = Pipeline::Create(state.range(0) != 0, &error);
  if (p == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  p->Drain();
  uint64_t start_events = p->events();
  size_t bytes = 0;
  for (auto _ : state) bytes += p->Cycle();
  uint64_t events = p->events() - start_events;
  state.SetItemsProcessed(static_cast<int64_t>(events));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["dropped"] = static_cast<double>(p->dropped());
}
// /0: the enricher is called for every event (as the daemon's pod enricher
// is today); /1: with an enricher version (ProcessSensorOptions::enrich_version).
BENCHMARK(BM_Pipeline)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Component: encoding only, over the same mix captured once.
std::vector<tetragon::GetEventsResponse> CaptureMix() {
  std::vector<tetragon::GetEventsResponse> out;
  EventBus bus;
  ProcessCache cache("bench-node", 65536, 0);
  auto sub = bus.Subscribe(1 << 16);
  RecordFactory r;
  // Decoding without a loaded sensor: the cache and the event shape the
  // sensor builds, enough to give the encoder realistic messages.
  ExecRecord parent;
  parent.pid = kParentPid;
  parent.binary = "/usr/bin/containerd-shim-runc-v2";
  cache.AddExec(parent);
  for (int k = 0; k < 10; ++k) {
    ExecRecord e;
    e.pid = kFirstPid + k;
    e.ppid = kParentPid;
    e.ktime = 1000 + k;
    e.uid = 1000;
    e.binary = "/usr/bin/curl";
    e.arguments = "-s https://api.example.com/v1/items?id=12345 -H Accept: application/json";
    e.cwd = "/home/app/workdir";
    e.flags = "execve clone";
    tetragon::GetEventsResponse ev;
    *ev.mutable_process_exec()->mutable_process() = cache.AddExec(e);
    EnrichWithPod(0, ev.mutable_process_exec()->mutable_process());
    *ev.mutable_process_exec()->mutable_parent() = *cache.GetParent(ev.process_exec().process().exec_id());
    ev.set_node_name("bench-node");
    ev.mutable_time()->set_seconds(1732356000);
    ev.mutable_time()->set_nanos(123456789);
    if (k < 6) {
      out.push_back(ev);
    } else if (k < 9) {
      tetragon::GetEventsResponse x;
      *x.mutable_process_exit()->mutable_process() = ev.process_exec().process();
      *x.mutable_process_exit()->mutable_parent() = ev.process_exec().parent();
      x.mutable_process_exit()->set_signal("SIGKILL");
      x.set_node_name("bench-node");
      *x.mutable_time() = ev.time();
      out.push_back(x);
    } else {
      out.push_back(Tracepoint(cache, e.pid, k));
    }
  }
  return out;
}

void BM_EncodeFast(benchmark::State& state) {
  auto mix = CaptureMix();
  std::string line;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    line.clear();
    AppendMessageJson(mix[i++ % mix.size()], &line).IgnoreError();
    bytes += line.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_EncodeFast);

void BM_EncodeProtobufMessageToJson(benchmark::State& state) {
  auto mix = CaptureMix();
  std::string line;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    ReferenceMessageJson(mix[i++ % mix.size()], &line).IgnoreError();
    bytes += line.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_EncodeProtobufMessageToJson);

}  // namespace
}  // namespace tgd

BENCHMARK_MAIN();
