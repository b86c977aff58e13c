#include "bench/dispatch/dispatch_bench.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/dispatch/backends.h"
#include "bench/dispatch/empty.skel.h"
#include "sensor/base/status_macros.h"
#include "sensor/bpfcore/bpf_owners.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd::bench {
namespace {

using tgd::testing::TestCgroup;
using Clock = std::chrono::steady_clock;

constexpr char kHookEvent[] = "sys_enter_getpid";
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

// The result of one measured loop.
struct LoopSample {
  double bpf_ns = 0;   // per event
  double wall_ns = 0;  // per syscall
  uint64_t events = 0, foreign = 0, tail_called_runs = 0;
  int progs_ran = 0;
};

// Runs `syscalls` getpid calls in a child in `cg`, pinned to `cpu`, and reads
// the BPF run statistics of every reachable program around the loop only
// (the child's fork and exit are outside the window). `tail_called`: ids of
// programs that are only ever tail-called.
// Reads the backend's ring buffer on another CPU while the loop runs:
// `poll(timeout_ms)` in a loop with `timeout_ms` (0: continuously).
struct Drain {
  std::function<int(int)> poll;  // empty: the backend reads its own ring buffer
  int timeout_ms = 0;
  int cpu = -1;
};

class DrainThread {
 public:
  explicit DrainThread(const Drain& d) {
    if (!d.poll) return;
    thread_ = std::thread([this, d] {
      if (d.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(d.cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
      }
      while (!stop_.load(std::memory_order_relaxed)) d.poll(d.timeout_ms);
    });
  }
  ~DrainThread() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

absl::StatusOr<LoopSample> MeasureLoop(TestCgroup& cg, int syscalls, int cpu,
                                       const std::set<uint32_t>& tail_called, const Drain& drain = {}) {
  int go[2], res[2];
  if (pipe(go) != 0) return absl::InternalError("pipe");
  if (pipe(res) != 0) {
    close(go[0]);
    close(go[1]);
    return absl::InternalError("pipe");
  }
  absl::StatusOr<pid_t> pid = cg.SpawnFn([&]() -> int {
    close(go[1]);
    close(res[0]);
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
    char c;
    if (read(go[0], &c, 1) != 1) return 2;
    timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < syscalls; ++i) syscall(SYS_getpid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t ns = (b.tv_sec - a.tv_sec) * 1000000000ull + b.tv_nsec - a.tv_nsec;
    if (write(res[1], &ns, sizeof(ns)) != sizeof(ns)) return 3;
    (void)!read(go[0], &c, 1);  // stay alive until the parent has read the statistics
    return 0;
  });
  close(go[0]);
  close(res[1]);
  if (!pid.ok()) {
    close(go[1]);
    close(res[0]);
    return pid.status();
  }
  usleep(20000);  // let the child reach its read (fork's own tracepoints are done)
  std::map<uint32_t, ProgRunStats> before, after;
  uint64_t ns = 0;
  bool ok;
  {
    DrainThread reader(drain);
    before = ReadProgRunStats();
    char c = 'g';
    ok = write(go[1], &c, 1) == 1 && read(res[0], &ns, sizeof(ns)) == sizeof(ns);
    after = ReadProgRunStats();
  }
  close(go[1]);  // the child exits
  close(res[0]);
  absl::StatusOr<int> st = tgd::testing::WaitChild(*pid);
  if (!ok) return absl::InternalError(absl::StrCat("the loop child failed (wait status ", st.ok() ? *st : -1, ")"));
  LoopSample s;
  uint64_t time = 0;
  for (const auto& [id, a] : after) {
    auto it = before.find(id);
    uint64_t t0 = it == before.end() ? 0 : it->second.run_time_ns;
    uint64_t c0 = it == before.end() ? 0 : it->second.run_cnt;
    uint64_t dc = a.run_cnt - c0;
    time += a.run_time_ns - t0;
    if (dc > 0) s.progs_ran++;
    s.events = std::max(s.events, dc);
    if (tail_called.count(id)) s.tail_called_runs += dc;
  }
  s.foreign = s.events > static_cast<uint64_t>(syscalls) ? s.events - syscalls : 0;
  s.bpf_ns = s.events ? static_cast<double>(time) / s.events : 0;
  s.wall_ns = static_cast<double>(ns) / syscalls;
  return s;
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
    // Teardown order: policies, backend, filter, cgroups.
    policies_.clear();
    backend_.reset();
    filter_.reset();
    cgroups_.clear();
    return std::move(report_);
  }

 private:
  absl::Status RunImpl(const std::string& mode) {
    PolicyFilterOptions fo;
    fo.use_bpf = false;  // run lists come from the in-memory filter state
    TGD_ASSIGN_OR_RETURN(filter_, PolicyFilterState::Create(fo));
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
      TGD_ASSIGN_OR_RETURN(report_.after_delete_all, MeasureFootprint());
      report_.fds_after_delete_all = CountOpenFds();
    }
    return Latency();
  }

  // A fresh filter (with the benchmark's pods) and backend.
  absl::Status Setup(const std::string& mode) {
    PolicyFilterOptions fo;
    fo.use_bpf = false;
    TGD_ASSIGN_OR_RETURN(filter_, PolicyFilterState::Create(fo));
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
    TGD_ASSIGN_OR_RETURN(backend_, CreateBackend(mode, d));
    dispatch_ = dynamic_cast<DispatchBackend*>(backend_.get());
    next_filter_id_ = 2;
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

  absl::Status Latency() {
    LatencyReport& L = report_.latency;
    TGD_ASSIGN_OR_RETURN(L.baseline, MeasureFootprint());
    L.fds_baseline = CountOpenFds();
    int pods = std::max(o_.latency_adds, 1);
    for (int i = 0; i < pods; ++i) {
      std::string app = absl::StrCat("lat", i);
      TGD_RETURN_IF_ERROR(RegisterPod(app, kFakeCgroupBase + (1ull << 32) + i));
    }
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
        std::vector<std::unique_ptr<LoadedPolicy>> added;
        std::vector<double> add_ms, del_ms;
        int consecutive_failures = 0;
        for (int i = 0; i < o_.latency_adds; ++i) {
          Clock::time_point t0 = Clock::now();
          absl::StatusOr<std::unique_ptr<LoadedPolicy>> p = Add(absl::StrCat("lat-", i), kHookEvent,
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
        L.add_known_ms = Summarize(add_ms);
        L.del_known_ms = Summarize(del_ms);
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
    TGD_ASSIGN_OR_RETURN(L.after, MeasureFootprint());
    L.fds_after = CountOpenFds();
    return absl::OkStatus();
  }

  const BenchOptions& o_;
  const int cpu_;
  ModeReport report_;
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
  }
  return r;
}

// ---------------------------------------------------------------- rendering

namespace {

std::string Kb(double bytes) { return absl::StrFormat("%.1f KB", bytes / 1024.0); }
std::string Mb(double bytes) { return absl::StrFormat("%.2f MB", bytes / (1024.0 * 1024.0)); }
std::string Ns(const Spread& s) {
  if (s.n == 0) return "n/a";
  return absl::StrFormat("%.0f (%.0f–%.0f)", s.median, s.min, s.max);
}
std::string MsCell(double v) { return absl::StrFormat("%.3f", v); }
std::string Verdict(bool met) { return met ? "**met**" : "**missed**"; }

const ModeReport* FindMode(const BenchReport& r, const std::string& mode) {
  for (const ModeReport& m : r.modes) {
    if (m.mode == mode) return &m;
  }
  return nullptr;
}

const EventCostRow* FindRow(const ModeReport* m, int n, int k) {
  if (!m) return nullptr;
  for (const EventCostRow& row : m->cost) {
    if (row.n == n && row.k == k) return &row;
  }
  return nullptr;
}

}  // namespace

std::string RenderMarkdown(const BenchReport& r, const BenchOptions& o, const std::string& svg_name) {
  std::ostringstream md;
  md << kBeginMarker << "\n\n";
  md << "## Dispatcher vs per-policy loader\n\n";
  md << "Generated by `" << o.command << "` at commit `" << o.git_commit << "`.\n\n";
  md << "Machine: " << r.cpu_model << ", " << r.online_cpus << " CPUs online (" << r.possible_cpus
     << " possible), kernel `" << r.kernel_release << "` (" << r.kernel_version << ").\n\n";
  md << "Method: every policy has one hook (tracepoint `syscalls/" << kHookEvent
     << "`), a podSelector and one selector with `matchBinaries` In 8 paths that do not include the benchmark "
        "binary, so every applicable policy is evaluated and none posts. Policy *i* selects the pod `app=w<i>` "
        "(each a registered pod with its own cgroup id); the first k policies also select the benchmark's pod (a "
        "real cgroup, one per k). A child in that cgroup, pinned to one CPU, runs "
     << o.syscalls << " × `syscall(SYS_getpid)`; BPF time per event is the sum of `run_time_ns` over every "
     << "program the process holds (attached, tail-called, in prog arrays) divided by the events (the largest "
        "`run_cnt` delta), read just before and after the loop; statistics on through "
     << r.stats_method << ". Each figure: median (min–max) of " << o.repeats << " runs. The policy filter runs "
     << "in memory (`use_bpf=false`): its BPF maps are not part of the memory figures.\n\n";

  // 1. time per event.
  md << "### BPF time per event vs policies loaded\n\n";
  md << "Empty program on the same tracepoint: **" << Ns(r.empty.bpf_ns) << " ns/event** (wall "
     << Ns(r.empty.wall_ns) << " ns/syscall)" << (r.empty.error.empty() ? "" : " — " + r.empty.error) << ".\n\n";
  for (const ModeReport& m : r.modes) {
    if (!m.error.empty()) continue;
    md << "Without the sensor (" << m.mode << " run): wall " << Ns(m.wall_no_sensor_ns) << " ns/syscall.\n\n";
  }
  md << "| N | k |";
  for (const ModeReport& m : r.modes) md << " " << m.mode << " BPF ns/event | " << m.mode << " wall ns/syscall |";
  md << "\n|---|---|";
  for (size_t i = 0; i < r.modes.size(); ++i) md << "---|---|";
  md << "\n";
  std::vector<int> ns = o.policy_counts;
  std::sort(ns.begin(), ns.end());
  for (int n : ns) {
    for (int k : o.ks) {
      if (k > n) continue;
      md << "| " << n << " | " << k << " |";
      for (const ModeReport& m : r.modes) {
        const EventCostRow* row = FindRow(&m, n, k);
        if (!row) {
          md << " " << (m.error.empty() ? "not loaded" : "not built") << " | |";
          continue;
        }
        md << " " << Ns(row->bpf_ns) << " | " << Ns(row->wall_ns) << " |";
      }
      md << "\n";
    }
  }
  md << "\n";
  if (!svg_name.empty()) md << "![BPF ns per event vs policies loaded](" << svg_name << ")\n\n";
  md << "Checks per run (last repeat): programs that ran, tail-called programs' `run_cnt` (must be 0: the "
        "attached program's time includes its tail calls, so the sum counts each event once), events from "
        "other processes in the window, and the dispatcher's counters.\n\n";
  md << "| mode | N | k | programs ran | tail-called run_cnt | foreign events | evaluated | posted | lost | "
        "daemon reader: BPF ns/event | daemon reader: evaluated / lost |\n";
  md << "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const ModeReport& m : r.modes) {
    for (const EventCostRow& row : m.cost) {
      md << "| " << m.mode << " | " << row.n << " | " << row.k << " | " << row.progs_ran << " | "
         << row.tail_called_runs << " | " << row.foreign << " | " << row.evaluated << " | " << row.posted << " | "
         << row.lost << " | " << absl::StrFormat("%.0f", row.daemon_bpf_ns) << " | " << row.daemon_evaluated
         << " / " << row.daemon_lost << " |\n";
    }
  }
  md << "\nThe loader's ring buffer is drained continuously by a thread on another CPU while the main figures are "
        "measured; the last two columns repeat one loop with the ring read as the daemon reads it "
        "(`DispatchBackend::ReaderLoop`: poll with a 100 ms timeout): `lost` counts evaluations skipped because "
        "the datapath found no room (ring buffer or scratch).\n";
  md << "\n";
  for (const ModeReport& m : r.modes) {
    if (!m.error.empty()) md << "- **" << m.mode << "**: not measured: " << m.error << "\n";
    if (!m.sweep_stop.empty()) md << "- **" << m.mode << "**: sweep stopped: " << m.sweep_stop << "\n";
  }
  md << "\n";

  // 2. memory.
  md << "### Kernel memory per policy\n\n";
  md << "Total = memlock of every map the process reaches (own fds + inner maps of map-in-maps, which only the "
        "kernel holds) + JIT and xlated sizes of every program. Per-CPU part: per-CPU map values and hash "
        "per-CPU lock counters, scaled linearly to "
     << o.extrapolate_cpus << " CPUs.\n\n";
  md << "| mode | N | maps (inner) | progs | total | per-CPU part | at " << o.extrapolate_cpus
     << " CPUs | LoadedPolicy::KernelMemoryBytes sum | load time |\n";
  md << "|---|---|---|---|---|---|---|---|---|\n";
  for (const ModeReport& m : r.modes) {
    if (!m.error.empty()) continue;
    md << "| " << m.mode << " | 0 (baseline) | " << m.baseline.maps << " (" << m.baseline.inner_maps << ") | "
       << m.baseline.progs << " | " << Mb(m.baseline.total()) << " | " << Kb(m.baseline.percpu_map_bytes) << " | "
       << Mb(m.baseline.TotalAt(o.extrapolate_cpus, r.possible_cpus)) << " | | |\n";
    for (const MemoryRow& row : m.memory) {
      const BpfFootprint& f = row.footprint;
      md << "| " << m.mode << " | " << row.n << " | " << f.maps << " (" << f.inner_maps << ") | " << f.progs << " | "
         << Mb(f.total()) << " | " << Kb(f.percpu_map_bytes) << " | "
         << Mb(f.TotalAt(o.extrapolate_cpus, r.possible_cpus)) << " | " << Mb(row.reported_bytes) << " | "
         << absl::StrFormat("%.0f ms", row.load_ms) << " |\n";
    }
  }
  md << "\n| per extra policy (linear fit over N) | " << r.possible_cpus << " CPUs | " << o.extrapolate_cpus
     << " CPUs |\n|---|---|---|\n";
  for (const ModeReport& m : r.modes) {
    if (!m.error.empty()) {
      md << "| " << m.mode << " | not built | |\n";
      continue;
    }
    double at = m.slope - m.percpu_slope + m.percpu_slope * o.extrapolate_cpus / std::max(1, r.possible_cpus);
    md << "| " << m.mode << " | " << Kb(m.slope) << " | " << Kb(at) << " |\n";
  }
  md << "| Tetragon, kprobe policy (design.md, measured) | 319 KB (2 CPUs) | 7.9 MB |\n";
  md << "| Tetragon, + podSelector (design.md) | +2.6 MB | |\n";
  md << "| Tetragon, one hook + podSelector + matchBinaries 8 paths (design.md target row) | 2.9 MB (2 CPUs) | "
        "~10.5 MB |\n\n";

  // 3. latency.
  md << "### Policy add and delete latency\n\n";
  md << "Add = parse + load of one policy of the shape above (its pod registered beforehand); delete = destroying "
        "the LoadedPolicy. Known shape: up to "
     << o.latency_adds << " adds (stopping after 3 refusals in a row) on the already loaded `" << kHookEvent
     << "` hook, then their deletes. New hook: " << o.new_hook_adds
     << " times the first policy on a `syscalls/sys_enter_*` tracepoint, deleted right after (so every add "
        "loads the hook).\n\n";
  md << "| mode | add known median | add known p99 | delete known median / p99 | add new hook median | "
        "add new hook p99 | delete new hook median / p99 | distinct hooks | failures |\n";
  md << "|---|---|---|---|---|---|---|---|---|\n";
  for (const ModeReport& m : r.modes) {
    if (!m.error.empty()) {
      md << "| " << m.mode << " | not built | | | | | | | |\n";
      continue;
    }
    const LatencyReport& L = m.latency;
    md << "| " << m.mode << " | " << MsCell(L.add_known_ms.median) << " ms | " << MsCell(L.add_known_ms.p99)
       << " ms | " << MsCell(L.del_known_ms.median) << " / " << MsCell(L.del_known_ms.p99) << " ms | "
       << MsCell(L.add_new_ms.median) << " ms | " << MsCell(L.add_new_ms.p99) << " ms | "
       << MsCell(L.del_new_ms.median) << " / " << MsCell(L.del_new_ms.p99) << " ms | " << L.new_hooks_distinct
       << " | " << L.known_failures + L.new_failures << (L.first_error.empty() ? "" : " (first: " + L.first_error + ")")
       << " |\n";
  }
  for (const ModeReport& m : r.modes) {
    if (!m.error.empty()) continue;
    md << "\n" << m.mode << ": deleting the N-sweep policies one by one (from N=" << ns.back() << " down): "
       << m.deleted_one_by_one << " deletes, median " << MsCell(m.delete_at_max_ms.median) << " ms, p99 "
       << MsCell(m.delete_at_max_ms.p99) << " ms";
    if (m.dropped_with_backend > 0) {
      md << "; the " << absl::StrFormat("%.0f s", o.delete_budget_s) << " budget ran out, the other " << m.dropped_with_backend
         << " policies were dropped with the backend and the latency phase used a fresh one";
    }
    md << ".\n";
  }
  md << "\nBack to baseline after deleting everything (memory without `" << absl::StrJoin(kChurnMaps, "`, `")
     << "`, the exec tracker, whose size follows the machine's processes):\n\n";
  md << "| mode | phase | memory before | memory after | fds before | fds after | back to baseline |\n";
  md << "|---|---|---|---|---|---|---|\n";
  for (const ModeReport& m : r.modes) {
    if (!m.error.empty()) continue;
    auto line = [&](const char* phase, const BpfFootprint& a, const BpfFootprint& b, int fa, int fb) {
      uint64_t ta = a.TotalWithout(kChurnMaps), tb = b.TotalWithout(kChurnMaps);
      md << "| " << m.mode << " | " << phase << " | " << ta << " B | " << tb << " B | " << fa << " | " << fb
         << " | " << (ta == tb && a.maps == b.maps && a.progs == b.progs && fa == fb ? "yes" : "**no**") << " |\n";
    };
    line("N sweep", m.baseline, m.after_delete_all, m.fds_baseline, m.fds_after_delete_all);
    line("latency", m.latency.baseline, m.latency.after, m.latency.fds_baseline, m.latency.fds_after);
  }
  md << "\n";

  // Targets.
  md << "### Targets (design.md section 5)\n\n";
  md << "| target | figure | verdict |\n|---|---|---|\n";
  const ModeReport* d = FindMode(r, "dispatch");
  if (d && d->error.empty()) {
    int nmin = ns.front(), nmax = ns.back();
    const EventCostRow* lo = FindRow(d, nmin, 1);
    const EventCostRow* hi = FindRow(d, nmax, 1);
    if (lo && hi && lo->bpf_ns.median > 0) {
      double ratio = hi->bpf_ns.median / lo->bpf_ns.median;
      md << "| BPF time at N=" << nmax << " within 1.5x of N=" << nmin << " (k=1) | "
         << absl::StrFormat("%.0f ns vs %.0f ns = %.2fx", hi->bpf_ns.median, lo->bpf_ns.median, ratio) << " | "
         << Verdict(ratio <= 1.5) << " |\n";
    }
    double at = d->slope - d->percpu_slope + d->percpu_slope * o.extrapolate_cpus / std::max(1, r.possible_cpus);
    double worst = std::max(d->slope, at);
    md << "| <= 8 KB per extra policy at any CPU count | " << Kb(d->slope) << " (" << r.possible_cpus << " CPUs), "
       << Kb(at) << " (" << o.extrapolate_cpus << " CPUs) | " << Verdict(worst <= 8 * 1024) << " |\n";
    md << "| add <= 1 ms median, known shape | " << MsCell(d->latency.add_known_ms.median) << " ms | "
       << Verdict(d->latency.add_known_ms.n > 0 && d->latency.add_known_ms.median <= 1.0) << " |\n";
    if (lo && r.empty.bpf_ns.median > 0) {
      double ratio = lo->bpf_ns.median / r.empty.bpf_ns.median;
      md << "| dispatcher <= 5x an empty program, 1 policy applies (N=" << nmin << ", k=1) | "
         << absl::StrFormat("%.0f ns vs %.0f ns = %.2fx", lo->bpf_ns.median, r.empty.bpf_ns.median, ratio) << " | "
         << Verdict(ratio <= 5) << " |\n";
    }
  }
  md << "\n" << kEndMarker << "\n";
  return md.str();
}

absl::Status ReplaceSection(const std::string& path, const std::string& begin, const std::string& end,
                            const std::string& content) {
  std::string old;
  {
    std::ifstream in(path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      old = ss.str();
    }
  }
  std::string out;
  size_t b = old.find(begin);
  size_t e = b == std::string::npos ? std::string::npos : old.find(end, b);
  if (b != std::string::npos && e != std::string::npos) {
    size_t after = e + end.size();
    if (after < old.size() && old[after] == '\n') ++after;
    std::string body = content;
    if (body.empty() || body.back() != '\n') body += "\n";
    out = old.substr(0, b) + body + old.substr(after);
  } else {
    out = old;
    if (!out.empty() && out.back() != '\n') out += "\n";
    if (!out.empty()) out += "\n";
    out += content;
    if (out.back() != '\n') out += "\n";
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return absl::PermissionDeniedError("cannot write " + tmp);
    f << out;
    if (!f) return absl::InternalError("writing " + tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) return absl::InternalError("renaming " + tmp + " to " + path);
  return absl::OkStatus();
}

absl::Status WritePlot(const BenchReport& r, const std::string& svg_path) {
  std::string script_path = svg_path + ".gp";
  std::ostringstream gp;
  gp << "# Generated by bench/dispatch: BPF ns/event vs policies loaded.\n";
  gp << "set terminal svg size 900,560 dynamic font 'sans,12'\n";
  gp << "set output '" << svg_path << "'\n";
  gp << "set title 'BPF time per getpid event vs policies loaded (" << r.kernel_release << ", " << r.online_cpus
     << " CPUs)'\n";
  gp << "set logscale x\nset logscale y\nset xlabel 'policies loaded (N)'\nset ylabel 'ns per event (median, "
        "min-max bars)'\n";
  gp << "set key top left\nset grid\nset xrange [0.7:15000]\n";
  std::vector<std::string> plots;
  int idx = 0;
  for (const ModeReport& m : r.modes) {
    std::map<int, std::vector<const EventCostRow*>> by_k;
    for (const EventCostRow& row : m.cost) by_k[row.k].push_back(&row);
    for (const auto& [k, rows] : by_k) {
      std::string block = absl::StrCat("$d", idx++);
      gp << block << " << EOD\n";
      for (const EventCostRow* row : rows) {
        gp << row->n << " " << row->bpf_ns.median << " " << row->bpf_ns.min << " " << row->bpf_ns.max << "\n";
      }
      gp << "EOD\n";
      plots.push_back(absl::StrCat(block, " using 1:2:3:4 with yerrorlines lw 2 title '", m.mode, ", k=", k, "'"));
    }
  }
  if (r.empty.bpf_ns.n > 0) {
    plots.push_back(absl::StrCat(r.empty.bpf_ns.median, " with lines dt 2 lc rgb 'gray' title 'empty program'"));
  }
  if (plots.empty()) return absl::FailedPreconditionError("nothing to plot");
  gp << "plot " << absl::StrJoin(plots, ", \\\n     ") << "\n";
  {
    std::ofstream f(script_path, std::ios::trunc);
    f << gp.str();
    if (!f) return absl::InternalError("writing " + script_path);
  }
  std::string cmd = absl::StrCat("gnuplot '", script_path, "' 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return absl::FailedPreconditionError("cannot run gnuplot");
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) output += buf;
  int st = pclose(p);
  unlink(script_path.c_str());
  if (st != 0) return absl::FailedPreconditionError("gnuplot failed (install gnuplot-nox): " + output);
  return absl::OkStatus();
}

}  // namespace tgd::bench
