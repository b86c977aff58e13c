// The dispatch benchmark's run (RunBench): per loader mode, the N sweep of
// BPF time per event, the kernel memory per policy and the add/delete
// latency phase, plus the empty-program baseline. The measured loop is in
// measure_loop.cc, the markdown and plot output in dispatch_bench_report.cc.
#include "bench/dispatch/dispatch_bench.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/dispatch/backends.h"
#include "bench/dispatch/empty.skel.h"
#include "bench/dispatch/measure_loop.h"
#include "bench/dispatch/policy_dir_start.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/base/status_macros.h"
#include "sensor/bpfcore/bpf_owners.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/policyfilter/testing/fake_agent.h"
#include "sensor/policymgr/filter_ids.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd::bench {
namespace {

using tgd::testing::TestCgroup;
using Clock = std::chrono::steady_clock;

// Fake cgroup ids of the workloads that are not the benchmark's: the run
// lists are keyed by id, no cgroup needs to exist for them.
constexpr uint64_t kFakeCgroupBase = 0x7e00000000000000ull;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// One policy of the measured shape: one tracepoint hook, a podSelector, one
// selector with matchBinaries In 8 paths that are not the benchmark's binary
// (nothing is posted: the policy is evaluated and does not match).
std::string PolicyYaml(const std::string& name, const std::string& event, const std::vector<std::string>& apps) {
  std::string selector;
  if (apps.size() == 1) {
    selector = absl::StrCat("    matchLabels:\n      app: ", apps[0], "\n");
  } else {
    selector = absl::StrCat("    matchExpressions:\n    - key: app\n      operator: In\n      values: [",
                            absl::StrJoin(apps, ", "), "]\n");
  }
  std::vector<std::string> paths;
  for (int j = 0; j < 8; ++j) paths.push_back(absl::StrCat("\"/opt/", name, "/bin/tool", j, "\""));
  return absl::StrCat("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ", name,
                      "\nspec:\n  podSelector:\n", selector, "  tracepoints:\n  - subsystem: syscalls\n    event: ",
                      event, "\n    selectors:\n    - matchBinaries:\n      - operator: In\n        values: [",
                      absl::StrJoin(paths, ", "), "]\n");
}

// The same hook and podSelector with a trivial selector: matchPIDs In [1]
// (one integer lookup; the benchmark is not pid 1, so nothing is posted).
std::string TrivialPolicyYaml(const std::string& name, const std::string& event, const std::string& app) {
  return absl::StrCat("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ", name,
                      "\nspec:\n  podSelector:\n    matchLabels:\n      app: ", app,
                      "\n  tracepoints:\n  - subsystem: syscalls\n    event: ", event,
                      "\n    selectors:\n    - matchPIDs:\n      - operator: In\n        values: [1]\n");
}

// Milliseconds of each of `n` updates of a HASH_OF_MAPS element with a fresh
// inner map (the map creation is not timed).
absl::StatusOr<std::vector<double>> TimeMapInMapUpdates(int n) {
  FileDescriptor tmpl(bpf_map_create(BPF_MAP_TYPE_ARRAY, "tgd_bench_in", 4, 8, 1, nullptr));
  if (!tmpl.valid()) return ErrnoStatus(errno, "creating an inner map");
  LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(tmpl.get()));
  FileDescriptor outer(bpf_map_create(BPF_MAP_TYPE_HASH_OF_MAPS, "tgd_bench_hom", 4, 4, 16, &opts));
  if (!outer.valid()) return ErrnoStatus(errno, "creating a hash of maps");
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    FileDescriptor inner(bpf_map_create(BPF_MAP_TYPE_ARRAY, "tgd_bench_in", 4, 8, 1, nullptr));
    if (!inner.valid()) return ErrnoStatus(errno, "creating an inner map");
    uint32_t key = i % 16;
    int fd = inner.get();
    Clock::time_point t0 = Clock::now();
    if (bpf_map_update_elem(outer.get(), &key, &fd, BPF_ANY) != 0) return ErrnoStatus(errno, "map-in-map update");
    ms.push_back(Ms(Clock::now() - t0));
  }
  return ms;
}

void Progress(const BenchOptions& o, const std::string& msg) {
  if (o.verbose) std::cerr << "[dispatch_bench] " << msg << std::endl;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      size_t c = line.find(':');
      if (c != std::string::npos) return line.substr(c + 2);
    }
  }
  return "unknown";
}

uint32_t ProgIdOfFd(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

void LinearFit(const std::vector<double>& x, const std::vector<double>& y, double* slope, double* intercept) {
  size_t n = x.size();
  *slope = *intercept = 0;
  if (n < 2) return;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  *slope = sxx > 0 ? sxy / sxx : 0;
  *intercept = my - *slope * mx;
}

std::vector<std::string> SyscallTracepoints() {
  std::vector<std::string> out;
  DIR* d = opendir("/sys/kernel/tracing/events/syscalls");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (absl::StartsWith(n, "sys_enter_") && n != kHookEvent) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

class ModeRunner {
 public:
  ModeRunner(const BenchOptions& o, int cpu) : o_(o), cpu_(cpu) {}

  ModeReport Run(const std::string& mode) {
    report_.mode = mode;
    absl::Status s = RunImpl(mode);
    if (!s.ok() && report_.error.empty()) report_.error = std::string(s.message());
    // Teardown order: policies, backend, filter, agent, cgroups.
    policies_.clear();
    backend_.reset();
    filter_.reset();
    if (agent_) {
      auto now = agent_->Read();
      bool intact = now.ok() && *now == agent_->Expected();
      Progress(o_, absl::StrCat(mode, ": the stand-in agent's maps ",
                                intact ? "hold exactly what it wrote" : "CHANGED"));
      if (!intact && report_.error.empty()) report_.error = "the stand-in agent's maps changed";
      agent_.reset();
    }
    for (const std::string& d : {own_dir_, agent_dir_}) {
      if (!d.empty()) rmdir(d.c_str());
    }
    cgroups_.clear();
    return std::move(report_);
  }

 private:
  // The policy filter: in memory (run lists come from it), or beside a
  // stand-in Tetragon agent on BPF maps, as the daemon runs there.
  absl::Status MakeFilter() {
    // A backend must not outlive the filter it observes (DispatchOptions::filter).
    policies_.clear();
    dispatch_ = nullptr;
    backend_.reset();
    PolicyFilterOptions fo;
    fo.use_bpf = false;
    next_filter_id_ = 2;
    if (o_.beside_tetragon || o_.bpf_filter) {
      if (own_dir_.empty()) {
        own_dir_ = absl::StrCat("/sys/fs/bpf/tgd-bench-own-", getpid());
        TGD_RETURN_IF_ERROR(EnsureBpffsDir(own_dir_));
      }
      fo.use_bpf = true;
      fo.defer_map_writes = true;  // as the daemon
      fo.bpf_dir = own_dir_;
      fo.cgtracker_program = false;
    }
    if (o_.beside_tetragon) {
      if (!agent_) {
        agent_dir_ = absl::StrCat("/sys/fs/bpf/tgd-bench-agent-", getpid());
        TGD_RETURN_IF_ERROR(EnsureBpffsDir(agent_dir_));
        testing::FakeAgentOptions ao;
        ao.dir = agent_dir_;
        TGD_ASSIGN_OR_RETURN(agent_, testing::FakeTetragonAgent::Create(ao));
        for (int i = 0; i < kAgentPods; ++i) {
          TGD_RETURN_IF_ERROR(agent_->AddPod(absl::StrCat("agent-pod-", i), absl::StrCat("app", i % 10),
                                             900000000 + i));
        }
        for (int i = 0; i < kAgentPolicies; ++i) {
          TGD_RETURN_IF_ERROR(agent_->AddPolicy(2 + i, absl::StrCat("app", i % 10), i % 20 == 0));
        }
      }
      fo.tetragon_bpf_dir = agent_dir_;
      next_filter_id_ = kTetragonSideFirstFilterId;
    }
    filter_.reset();
    TGD_ASSIGN_OR_RETURN(filter_, PolicyFilterState::Create(fo));
    return absl::OkStatus();
  }

  absl::Status RunImpl(const std::string& mode) {
    TGD_RETURN_IF_ERROR(MakeFilter());
    for (int k : o_.ks) {
      TGD_ASSIGN_OR_RETURN(std::unique_ptr<TestCgroup> cg, TestCgroup::Create(absl::StrCat("bench-k", k)));
      std::string app = absl::StrCat("bench-k", k);
      TGD_RETURN_IF_ERROR(filter_->AddPodContainer({app, app, "default", {{"app", app}}},
                                                   {app, "main", "", cg->id(), cg->path()}));
      cgroups_[k] = std::move(cg);
    }
    DispatchOptions d;
    d.filter = filter_.get();
    d.node_name = "bench";
    // The dispatch loader's ring buffer is read by the bench (continuously
    // while measuring, see Drain); other loaders read their own.
    d.start_reader = mode != "dispatch";
    d.max_policies = std::max<uint32_t>(16384, 2 * MaxN() + 16);
    d.run_gates = o_.gates;
    absl::StatusOr<std::unique_ptr<PolicyBackend>> b = CreateBackend(mode, d);
    if (!b.ok()) {
      report_.error = std::string(b.status().message());
      return absl::OkStatus();
    }
    backend_ = std::move(*b);
    dispatch_ = dynamic_cast<DispatchBackend*>(backend_.get());
    if (dispatch_) {
      DispatchBackend* db = dispatch_;
      drain_.poll = [db](int timeout_ms) { return db->PollOnce(timeout_ms); };
      drain_.cpu = cpu_ == 0 ? 1 : 0;
    }

    Progress(o_, mode + ": wall time without the sensor");
    std::vector<double> wall;
    for (int r = 0; r < o_.repeats; ++r) {
      TGD_ASSIGN_OR_RETURN(LoopSample s, MeasureLoop(*cgroups_.begin()->second, o_.syscalls, cpu_, {}));
      wall.push_back(s.wall_ns);
    }
    report_.wall_no_sensor_ns = Summarize(wall);
    TGD_ASSIGN_OR_RETURN(report_.baseline, MeasureFootprint());
    report_.fds_baseline = CountOpenFds();

    TGD_RETURN_IF_ERROR(Trivial());
    TGD_RETURN_IF_ERROR(Sweep());
    // Delete everything, one by one, timed: back to the baseline? When the
    // budget runs out the remaining policies are dropped with the backend
    // (the LoadedPolicy wrappers are leaked: destroying them one by one is
    // what ran out of time) and the latency phase gets a fresh backend.
    Progress(o_, absl::StrCat(report_.mode, ": deleting ", policies_.size(), " policies"));
    std::vector<double> del_ms;
    Clock::time_point start = Clock::now();
    while (!policies_.empty()) {
      if (std::chrono::duration<double>(Clock::now() - start).count() > o_.delete_budget_s) break;
      Clock::time_point t0 = Clock::now();
      policies_.pop_back();
      del_ms.push_back(Ms(Clock::now() - t0));
    }
    report_.delete_at_max_ms = Summarize(del_ms);
    report_.deleted_one_by_one = del_ms.size();
    if (!policies_.empty()) {
      report_.dropped_with_backend = policies_.size();
      Progress(o_, absl::StrCat(report_.mode, ": delete budget used up; dropping ", policies_.size(),
                                " policies with the backend"));
      for (auto& p : policies_) (void)p.release();
      policies_.clear();
      dispatch_ = nullptr;
      backend_.reset();
      TGD_RETURN_IF_ERROR(Setup(mode));
      TGD_ASSIGN_OR_RETURN(report_.after_delete_all, MeasureFootprint());
      report_.fds_after_delete_all = CountOpenFds();
    } else {
      // Frees wait for a grace period off the delete path: measured after
      // the second the target allows, then polled until back (a mass delete
      // leaves the reclaimer a backlog: how long it takes is reported).
      Clock::time_point deleted = Clock::now();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      TGD_ASSIGN_OR_RETURN(report_.after_delete_all, MeasureFootprint());
      report_.fds_after_delete_all = CountOpenFds();
      for (;;) {
        TGD_ASSIGN_OR_RETURN(BpfFootprint now, MeasureFootprint());
        if (now.TotalWithout(kChurnMaps) == report_.baseline.TotalWithout(kChurnMaps) &&
            now.maps == report_.baseline.maps && CountOpenFds() == report_.fds_baseline) {
          report_.back_after_s = std::chrono::duration<double>(Clock::now() - deleted).count();
          break;
        }
        if (Clock::now() - deleted > std::chrono::seconds(20)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
    TGD_RETURN_IF_ERROR(Latency(mode));
    return Shutdown(mode);
  }

  // One policy on each of o_.shutdown_hooks syscall tracepoints, then the
  // daemon's shutdown, timed.
  absl::Status Shutdown(const std::string& mode) {
    ShutdownReport& S = report_.shutdown;
    if (o_.shutdown_hooks <= 0) return absl::OkStatus();
    TGD_RETURN_IF_ERROR(Setup(mode));
    std::vector<std::string> tps = SyscallTracepoints();
    Progress(o_, absl::StrCat(report_.mode, ": shutdown with one policy on each of ", o_.shutdown_hooks, " hooks"));
    std::vector<std::unique_ptr<LoadedPolicy>> loaded;
    for (size_t j = 0; j < tps.size() && static_cast<int>(loaded.size()) < o_.shutdown_hooks; ++j) {
      absl::StatusOr<std::unique_ptr<LoadedPolicy>> p = Add(absl::StrCat("stop-", j), tps[j], {"lat0"});
      if (p.ok()) {
        loaded.push_back(*std::move(p));
      } else if (S.error.empty()) {
        S.error = p.status().ToString();
      }
    }
    S.hooks = loaded.size();
    Clock::time_point t0 = Clock::now();
    backend_->BeginShutdown();
    S.detach_s = std::chrono::duration<double>(Clock::now() - t0).count();
    loaded.clear();
    dispatch_ = nullptr;
    backend_.reset();
    S.total_s = std::chrono::duration<double>(Clock::now() - t0).count();
    S.links = S.hooks;  // one dispatcher per hook, or one program per policy: one link each
    return absl::OkStatus();
  }

  // A fresh filter (with the benchmark's pods) and backend.
  absl::Status Setup(const std::string& mode) {
    TGD_RETURN_IF_ERROR(MakeFilter());
    for (const auto& [k, cg] : cgroups_) {
      std::string app = absl::StrCat("bench-k", k);
      TGD_RETURN_IF_ERROR(filter_->AddPodContainer({app, app, "default", {{"app", app}}},
                                                   {app, "main", "", cg->id(), cg->path()}));
    }
    DispatchOptions d;
    d.filter = filter_.get();
    d.node_name = "bench";
    d.start_reader = mode != "dispatch";
    d.max_policies = std::max<uint32_t>(16384, 2 * MaxN() + 16);
    d.run_gates = o_.gates;
    TGD_ASSIGN_OR_RETURN(backend_, CreateBackend(mode, d));
    dispatch_ = dynamic_cast<DispatchBackend*>(backend_.get());
    return absl::OkStatus();
  }

  int MaxN() const {
    int m = 0;
    for (int n : o_.policy_counts) m = std::max(m, n);
    return m;
  }

  absl::Status RegisterPod(const std::string& app, uint64_t cgroup) {
    return filter_->AddPodContainer({app, app, "default", {{"app", app}}}, {app, "main", "", cgroup, ""});
  }

  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Add(const std::string& name, const std::string& event,
                                                    const std::vector<std::string>& apps) {
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(PolicyYaml(name, event, apps)));
    return backend_->Load(doc, next_filter_id_++, PolicyMode::kEnforce);
  }

  std::set<uint32_t> TailCalled() const {
    std::set<uint32_t> out;
    if (dispatch_) {
      for (const HookStatus& h : dispatch_->Hooks()) out.insert(ProgIdOfFd(h.evaluator_fd));
    }
    return out;
  }

  tgd_hook_stats HookCounters() const {
    if (dispatch_) {
      for (const HookStatus& h : dispatch_->Hooks()) {
        if (absl::EndsWith(h.key, kHookEvent)) return h.stats;
      }
    }
    return {};
  }

  // Measures the loop in the cgroup of k: `repeats` times with the ring
  // buffer drained continuously, then once read as the daemon reads it.
  absl::StatusOr<EventCostRow> MeasureRow(int n, int k, const std::set<uint32_t>& tail) {
    EventCostRow row;
    row.n = n;
    row.k = k;
    std::vector<double> bpf, wall;
    for (int r = 0; r < o_.repeats; ++r) {
      tgd_hook_stats h0 = HookCounters();
      TGD_ASSIGN_OR_RETURN(LoopSample s, MeasureLoop(*cgroups_[k], o_.syscalls, cpu_, tail, drain_));
      tgd_hook_stats h1 = HookCounters();
      bpf.push_back(s.bpf_ns);
      wall.push_back(s.wall_ns);
      row.events = s.events;
      row.foreign = s.foreign;
      row.progs_ran = s.progs_ran;
      row.tail_called_runs += s.tail_called_runs;
      row.evaluated = h1.evaluated - h0.evaluated;
      row.posted = h1.posted - h0.posted;
      row.lost = h1.lost - h0.lost;
    }
    row.bpf_ns = Summarize(bpf);
    row.wall_ns = Summarize(wall);
    if (drain_.poll) {
      Drain daemon = drain_;
      daemon.timeout_ms = 100;  // DispatchBackend::ReaderLoop's poll
      tgd_hook_stats h0 = HookCounters();
      TGD_ASSIGN_OR_RETURN(LoopSample s, MeasureLoop(*cgroups_[k], o_.syscalls, cpu_, tail, daemon));
      tgd_hook_stats h1 = HookCounters();
      row.daemon_bpf_ns = s.bpf_ns;
      row.daemon_evaluated = h1.evaluated - h0.evaluated;
      row.daemon_lost = h1.lost - h0.lost;
    }
    return row;
  }

  // design.md's 5x target: one applicable policy with a trivial selector.
  absl::Status Trivial() {
    if (!cgroups_.count(1)) return absl::OkStatus();
    Progress(o_, absl::StrCat(report_.mode, ": N=1 k=1, trivial selector: ", o_.repeats, " x ", o_.syscalls,
                              " getpid"));
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc,
                         ParsePolicyDocument(TrivialPolicyYaml("bench-trivial", kHookEvent, "bench-k1")));
    TGD_ASSIGN_OR_RETURN(std::unique_ptr<LoadedPolicy> p, backend_->Load(doc, next_filter_id_++, PolicyMode::kEnforce));
    TGD_ASSIGN_OR_RETURN(report_.trivial, MeasureRow(1, 1, TailCalled()));
    return absl::OkStatus();
  }

  absl::Status Sweep() {
    std::vector<int> ns = o_.policy_counts;
    std::sort(ns.begin(), ns.end());
    int loaded = 0;
    for (int n : ns) {
      Progress(o_, absl::StrCat(report_.mode, ": loading policies ", loaded, "..", n - 1));
      Clock::time_point t0 = Clock::now();
      for (int i = loaded; i < n; ++i) {
        std::string app = absl::StrCat("w", i);
        TGD_RETURN_IF_ERROR(RegisterPod(app, kFakeCgroupBase + i));
        std::vector<std::string> apps = {app};
        for (int k : o_.ks) {
          if (i < k) apps.push_back(absl::StrCat("bench-k", k));
        }
        absl::StatusOr<std::unique_ptr<LoadedPolicy>> p = Add(absl::StrCat("bench-", i), kHookEvent, apps);
        if (!p.ok()) {
          report_.sweep_stop = absl::StrCat("policy ", i + 1, " could not be loaded: ", p.status().ToString());
          Progress(o_, report_.mode + ": " + report_.sweep_stop);
          if (i > loaded) {  // the memory of what did load, then the fit
            MemoryRow m;
            m.n = i;
            m.load_ms = Ms(Clock::now() - t0);
            TGD_ASSIGN_OR_RETURN(m.footprint, MeasureFootprint());
            for (const auto& lp : policies_) m.reported_bytes += lp->KernelMemoryBytes();
            report_.memory.push_back(m);
          }
          FitMemory();
          return absl::OkStatus();
        }
        policies_.push_back(std::move(*p));
      }
      MemoryRow m;
      m.n = n;
      m.load_ms = Ms(Clock::now() - t0);
      loaded = n;
      TGD_ASSIGN_OR_RETURN(m.footprint, MeasureFootprint());
      for (const auto& p : policies_) m.reported_bytes += p->KernelMemoryBytes();
      report_.memory.push_back(m);

      std::set<uint32_t> tail = TailCalled();
      for (int k : o_.ks) {
        if (k > n) continue;
        Progress(o_, absl::StrCat(report_.mode, ": N=", n, " k=", k, ": ", o_.repeats, " x ", o_.syscalls,
                                  " getpid"));
        TGD_ASSIGN_OR_RETURN(EventCostRow row, MeasureRow(n, k, tail));
        report_.cost.push_back(row);
      }
    }
    FitMemory();
    return absl::OkStatus();
  }

  // Marginal bytes per policy: linear fit of the memory rows over N.
  void FitMemory() {
    std::vector<double> x, y, yp;
    for (const MemoryRow& m : report_.memory) {
      x.push_back(m.n);
      y.push_back(static_cast<double>(m.footprint.total()));
      yp.push_back(static_cast<double>(m.footprint.percpu_map_bytes));
    }
    double ignored;
    LinearFit(x, y, &report_.slope, &report_.intercept);
    LinearFit(x, yp, &report_.percpu_slope, &ignored);
  }

  absl::Status Latency(const std::string& mode) {
    LatencyReport& L = report_.latency;
    // A fresh filter and backend: few pods registered for the first round.
    dispatch_ = nullptr;
    backend_.reset();
    TGD_RETURN_IF_ERROR(Setup(mode));
    int pods = std::max(o_.latency_adds, 1);
    for (int i = 0; i < pods; ++i) {
      std::string app = absl::StrCat("lat", i);
      TGD_RETURN_IF_ERROR(RegisterPod(app, kFakeCgroupBase + (1ull << 32) + i));
    }
    // The baseline holds the pods (they stay registered): with BPF filter
    // maps each is a cgroup row there.
    filter_->WaitMapsWritten();
    TGD_ASSIGN_OR_RETURN(L.baseline, MeasureFootprint());
    L.fds_baseline = CountOpenFds();
    auto note = [&](const absl::Status& s) {
      if (L.first_error.empty()) L.first_error = s.ToString();
    };
    // Known shape: the hook is already loaded by an anchor policy.
    Progress(o_, absl::StrCat(report_.mode, ": ", o_.latency_adds, " adds and deletes of a known shape"));
    {
      absl::StatusOr<std::unique_ptr<LoadedPolicy>> anchor = Add("anchor", kHookEvent, {"nobody"});
      if (!anchor.ok()) {
        note(anchor.status());
      } else {
        auto round = [&](const std::string& tag, Spread* add_out, Spread* del_out) {
        std::vector<std::unique_ptr<LoadedPolicy>> added;
        std::vector<double> add_ms, del_ms;
        int consecutive_failures = 0;
        for (int i = 0; i < o_.latency_adds; ++i) {
          Clock::time_point t0 = Clock::now();
          absl::StatusOr<std::unique_ptr<LoadedPolicy>> p = Add(absl::StrCat("lat-", tag, i), kHookEvent,
                                                                {absl::StrCat("lat", i)});
          add_ms.push_back(Ms(Clock::now() - t0));
          if (!p.ok()) {
            L.known_failures++;
            note(p.status());
            add_ms.pop_back();
            // The loader's limit on this hook (e.g. programs per tracepoint):
            // more attempts measure only the refusal.
            if (++consecutive_failures >= 3) break;
            continue;
          }
          consecutive_failures = 0;
          added.push_back(std::move(*p));
        }
        for (auto& p : added) {
          Clock::time_point t0 = Clock::now();
          p.reset();
          del_ms.push_back(Ms(Clock::now() - t0));
        }
        *add_out = Summarize(add_ms);
        *del_out = Summarize(del_ms);
        };
        L.pods_few = static_cast<int>(cgroups_.size()) + pods;
        round("", &L.add_known_ms, &L.del_known_ms);
        // Again with latency_pods pods registered (pods the new policies do
        // not select: the add must not cost O(pods)).
        int extra = std::max(0, o_.latency_pods - L.pods_few);
        {
          PolicyFilterState::Bulk bulk(filter_.get());  // BPF filter maps: batched row inserts
          for (int i = 0; i < extra; ++i) {
            TGD_RETURN_IF_ERROR(RegisterPod(absl::StrCat("many", i), kFakeCgroupBase + (2ull << 32) + i));
          }
        }
        L.pods_many = L.pods_few + extra;
        if (extra > 0) {
          Progress(o_, absl::StrCat(report_.mode, ": ", o_.latency_adds, " adds and deletes of a known shape with ",
                                    L.pods_many, " pods"));
          round("m", &L.add_many_ms, &L.del_many_ms);
        }
        // Gone before the footprint is compared with the baseline.
        for (int i = 0; i < extra; ++i) TGD_RETURN_IF_ERROR(filter_->DelPod(absl::StrCat("many", i)));
      }
    }
    // New shape: the first policy on a hook (a tracepoint nothing else uses),
    // deleted again so that every add is a first one.
    std::vector<std::string> tps = SyscallTracepoints();
    if (!tps.empty() && o_.new_hook_adds > 0) {
      Progress(o_, absl::StrCat(report_.mode, ": ", o_.new_hook_adds, " adds and deletes of a first policy on a hook (",
                                tps.size(), " tracepoints)"));
      std::vector<double> add_ms, del_ms;
      std::set<std::string> used;
      std::set<std::string> bad;  // tracepoints this loader refuses
      for (int i = 0, j = 0; i < o_.new_hook_adds && bad.size() < tps.size(); ++j) {
        const std::string& tp = tps[j % tps.size()];
        if (bad.count(tp)) continue;
        Clock::time_point t0 = Clock::now();
        absl::StatusOr<std::unique_ptr<LoadedPolicy>> p = Add(absl::StrCat("new-", i), tp,
                                                              {absl::StrCat("lat", i % pods)});
        double ms = Ms(Clock::now() - t0);
        if (!p.ok()) {
          L.new_failures++;
          note(p.status());
          bad.insert(tp);
          continue;
        }
        ++i;
        add_ms.push_back(ms);
        used.insert(tp);
        t0 = Clock::now();
        p->reset();
        del_ms.push_back(Ms(Clock::now() - t0));
      }
      L.add_new_ms = Summarize(add_ms);
      L.del_new_ms = Summarize(del_ms);
      L.new_hooks_distinct = used.size();
    }
    TGD_ASSIGN_OR_RETURN(std::vector<double> mim, TimeMapInMapUpdates(50));
    L.map_in_map_update_ms = Summarize(mim);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // as after the N sweep
    TGD_ASSIGN_OR_RETURN(L.after, MeasureFootprint());
    L.fds_after = CountOpenFds();
    return absl::OkStatus();
  }

  const BenchOptions& o_;
  const int cpu_;
  ModeReport report_;
  std::unique_ptr<testing::FakeTetragonAgent> agent_;  // --beside_tetragon
  std::string agent_dir_, own_dir_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::map<int, std::unique_ptr<TestCgroup>> cgroups_;
  std::unique_ptr<PolicyBackend> backend_;
  DispatchBackend* dispatch_ = nullptr;
  Drain drain_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  uint32_t next_filter_id_ = 2;  // 0 and 1 are reserved
};

EmptyBaseline MeasureEmpty(const BenchOptions& o, int cpu) {
  EmptyBaseline e;
  Skeleton<empty> skel(empty::open_and_load());
  if (!skel) {
    e.error = absl::StrCat("loading the empty program: ", strerror(errno));
    return e;
  }
  if (empty::attach(skel.get()) != 0) {
    e.error = absl::StrCat("attaching the empty program: ", strerror(errno));
    return e;
  }
  absl::StatusOr<std::unique_ptr<TestCgroup>> cg = TestCgroup::Create("bench-empty");
  if (!cg.ok()) {
    e.error = std::string(cg.status().message());
    return e;
  }
  std::vector<double> bpf, wall;
  for (int r = 0; r < o.repeats; ++r) {
    absl::StatusOr<LoopSample> s = MeasureLoop(**cg, o.syscalls, cpu, {});
    if (!s.ok()) {
      e.error = std::string(s.status().message());
      return e;
    }
    bpf.push_back(s->bpf_ns);
    wall.push_back(s->wall_ns);
  }
  e.bpf_ns = Summarize(bpf);
  e.wall_ns = Summarize(wall);
  return e;
}

}  // namespace

Spread Summarize(std::vector<double> v) {
  Spread s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  size_t i99 = static_cast<size_t>(std::ceil(0.99 * v.size())) - 1;
  s.p99 = v[std::min(i99, v.size() - 1)];
  return s;
}

absl::StatusOr<BenchReport> RunBench(const BenchOptions& o) {
  if (std::string why = tgd::testing::RootTestSkipReason(); !why.empty()) {
    return absl::FailedPreconditionError(why);
  }
  // Thousands of policies hold thousands of fds (maps, programs, links).
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 20)) {
    rlimit want{1u << 20, 1u << 20};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  BenchReport r;
  r.cpu_model = CpuModel();
  utsname u{};
  uname(&u);
  r.kernel_release = u.release;
  r.kernel_version = u.version;
  r.online_cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  r.possible_cpus = libbpf_num_possible_cpus();
  int cpu = o.cpu >= 0 ? o.cpu : r.online_cpus - 1;

  TGD_ASSIGN_OR_RETURN(std::unique_ptr<BpfStatsGuard> stats, BpfStatsGuard::Enable());
  r.stats_method = stats->method();
  Progress(o, "empty program baseline");
  r.empty = MeasureEmpty(o, cpu);
  for (const std::string& mode : o.modes) {
    ModeRunner runner(o, cpu);
    r.modes.push_back(runner.Run(mode));
    if (!r.modes.back().error.empty()) Progress(o, mode + ": " + r.modes.back().error);
    if (o.start_policies > 0 && r.modes.back().error.empty()) {
      for (bool bpf_filter : {false, true}) {
        Progress(o, absl::StrCat(mode, ": start with ", o.start_policies, " policies in a --policy-dir, filter maps ",
                                 bpf_filter ? "in BPF" : "in memory"));
        StartReport s = MeasurePolicyDirStart(mode, o.start_policies, bpf_filter, o.start_budget_s);
        (bpf_filter ? r.modes.back().start_bpf : r.modes.back().start_memory) = s;
      }
    }
  }
  return r;
}

}  // namespace tgd::bench
