// End to end on real tracepoints and real cgroups: the dispatch loader
// delivers a scoped policy's events and actions to the selected pod only,
// keeps one dispatcher per hook with 1,000 more policies loaded, and frees
// everything on delete.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <locale.h>
#include <glog/logging.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/loader/features.h"
#include "sensor/loader/per_policy_backend.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

constexpr char kOpenatPolicy[] = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: NAME
spec:
  podSelector:
    matchLabels:
      app: APP
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    - index: 7
      type: int
    selectors:
    - matchBinaries:
      - operator: In
        values: [BINARY]
      matchArgs:
      - index: 6
        operator: Prefix
        values: [PREFIX]
      matchActions:
      - action: ACTION
)";

// Programs named `name` that this process holds (through program or link
// fds), so that other processes on the machine do not count.
int CountProgramsNamed(const std::string& name) {
  std::set<uint32_t> ids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fdinfo")) {
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("prog_id:", 0) == 0) ids.insert(std::stoul(line.substr(8)));
    }
  }
  int n = 0;
  for (uint32_t id : ids) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && name.compare(0, 15, info.name) == 0) ++n;
    close(fd);
  }
  return n;
}

int CountMapKeys(int fd, size_t key_size) {
  std::vector<char> key(key_size), next(key_size);
  int n = 0;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    ++n;
    key = next;
    prev = key.data();
  }
  return n;
}

// Every test runs against both loaders: the dispatcher and the per-policy
// comparison loader must behave the same for users.
class DispatchRootTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pods = testing::FilterWithPodsAB("disp");
    ASSERT_TRUE(pods.ok()) << pods.status();
    filter_ = std::move(pods->filter);
    cg_a_ = std::move(pods->a);
    cg_b_ = std::move(pods->b);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    // A private copy of cat: matchBinaries then selects only this test's runs.
    bin_ = absl::StrCat("/tmp/tgd-disp-cat-", getpid());
    std::filesystem::copy_file("/bin/cat", bin_, std::filesystem::copy_options::overwrite_existing);
    chmod(bin_.c_str(), 0755);
    prefix_ = absl::StrCat("/tmp/tgd-disp-marker-", getpid(), "-");
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    if (!bin_.empty()) unlink(bin_.c_str());
  }

  std::string Policy(const std::string& name, const std::string& app, const std::string& action) {
    return absl::StrReplaceAll(kOpenatPolicy, {{"NAME", name}, {"APP", app}, {"BINARY", bin_},
                                               {"PREFIX", prefix_}, {"ACTION", action}});
  }

  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const std::string& yaml, uint32_t filter_id,
                                                     PolicyMode mode = PolicyMode::kEnforce) {
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    return backend_->Load(doc, filter_id, mode);
  }

  // Runs the test's cat on `file` in `cg`; returns the wait status.
  int RunCat(TestCgroup& cg, const std::string& file) {
    auto pid = cg.Spawn({bin_, file});
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return -1;
    auto st = testing::WaitChild(*pid);
    EXPECT_TRUE(st.ok());
    return st.ok() ? *st : -1;
  }

  // Policy events (by policy name) delivered so far.
  std::vector<tetragon::GetEventsResponse> Drain(const std::string& policy) {
    while (backend_->PollOnce(50) > 0) {
    }
    std::vector<tetragon::GetEventsResponse> out;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      const std::string& name = ev->has_process_tracepoint() ? ev->process_tracepoint().policy_name()
                                                             : ev->process_kprobe().policy_name();
      if (name == policy) out.push_back(*ev);
    }
    return out;
  }

  // Policy events delivered so far, counted by policy name.
  std::map<std::string, int> DrainCounts() {
    while (backend_->PollOnce(50) > 0) {
    }
    std::map<std::string, int> out;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (ev->has_process_tracepoint()) ++out[ev->process_tracepoint().policy_name()];
    }
    return out;
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_, cg_b_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  std::string bin_, prefix_;
};

TEST_P(DispatchRootTest, PostsOnlyForTheSelectedPod) {
  auto p = Load(Policy("openat-a", "a", "Post"), 2);
  ASSERT_TRUE(p.ok()) << p.status();
  policies_.push_back(std::move(*p));

  EXPECT_NE(RunCat(*cg_a_, prefix_ + "in-a"), -1);
  EXPECT_NE(RunCat(*cg_b_, prefix_ + "in-b"), -1);
  EXPECT_NE(RunCat(*cg_a_, "/tmp/other-file-not-matching"), -1);
  auto events = Drain("openat-a");
  ASSERT_EQ(events.size(), 1u);
  const tetragon::ProcessTracepoint& tp = events[0].process_tracepoint();
  EXPECT_EQ(tp.subsys(), "syscalls");
  EXPECT_EQ(tp.event(), "sys_enter_openat");
  EXPECT_EQ(tp.action(), tetragon::KPROBE_ACTION_POST);
  ASSERT_EQ(tp.args_size(), 2);
  EXPECT_EQ(tp.args(0).string_arg(), prefix_ + "in-a");
  EXPECT_EQ(tp.args(1).int_arg() & O_ACCMODE, O_RDONLY);
  EXPECT_GT(tp.process().pid().value(), 0u);
  EXPECT_EQ(events[0].node_name(), "test-node");

  PolicyCounters pc = policies_[0]->Counters();  // the policy's own counters
  EXPECT_EQ(pc.events, 1u);
  EXPECT_EQ(pc.signals + pc.monitor_signals + pc.overrides + pc.missed, 0u);
  auto hooks = backend_->Hooks();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].key, "tracepoint/syscalls/sys_enter_openat");
  EXPECT_GE(hooks[0].stats.posted, 1u);
  EXPECT_EQ(hooks[0].stats.tail_call_fail, 0u);
}

TEST_P(DispatchRootTest, SigkillKillsInTheSelectedPodOnlyAndMonitorModeOnlyReports) {
  auto p = Load(Policy("kill-a", "a", "Sigkill"), 2);
  ASSERT_TRUE(p.ok()) << p.status();
  int st_a = RunCat(*cg_a_, prefix_ + "kill");
  EXPECT_TRUE(WIFSIGNALED(st_a) && WTERMSIG(st_a) == SIGKILL) << "status " << st_a;
  int st_b = RunCat(*cg_b_, prefix_ + "kill");
  EXPECT_TRUE(WIFEXITED(st_b)) << "status " << st_b;  // cat: no such file -> exit 1
  auto events = Drain("kill-a");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].process_tracepoint().action(), tetragon::KPROBE_ACTION_SIGKILL);
  EXPECT_EQ((*p)->Counters().signals, 1u);
  EXPECT_EQ((*p)->Counters().events, 1u);

  ASSERT_TRUE((*p)->SetMode(PolicyMode::kMonitor).ok());
  st_a = RunCat(*cg_a_, prefix_ + "kill");
  EXPECT_TRUE(WIFEXITED(st_a)) << "monitor mode must not kill; status " << st_a;
  EXPECT_EQ(Drain("kill-a").size(), 1u);  // still reported
  EXPECT_EQ((*p)->Counters().signals, 1u);
  EXPECT_EQ((*p)->Counters().monitor_signals, 1u);

  ASSERT_TRUE((*p)->SetEnabled(false).ok());
  EXPECT_TRUE(WIFEXITED(RunCat(*cg_a_, prefix_ + "kill")));
  EXPECT_EQ(Drain("kill-a").size(), 0u);
}

TEST_P(DispatchRootTest, ThousandOtherPoliciesKeepOneDispatcherAndBehaviour) {
  auto p = Load(Policy("openat-a", "a", "Post"), 2);
  ASSERT_TRUE(p.ok()) << p.status();
  policies_.push_back(std::move(*p));
  absl::Time start = absl::Now();
  // The per-policy loader verifies and attaches a program per policy and
  // gives each ~2.8 MB of maps (Tetragon's sizes): 20 are enough to show it.
  const bool dispatch = GetParam() == "dispatch";
  const int others = dispatch ? 1000 : 20;
  for (int i = 0; i < others; ++i) {
    auto q = Load(Policy(absl::StrCat("other-", i), absl::StrCat("nobody-", i), "Sigkill"), 100 + i);
    ASSERT_TRUE(q.ok()) << q.status();
    policies_.push_back(std::move(*q));
  }
  LOG(INFO) << GetParam() << ": " << others << " policy adds on a known hook took " << absl::Now() - start;
  if (dispatch) {
    EXPECT_EQ(CountProgramsNamed("tgd_disp_tp"), 1);
    EXPECT_EQ(CountProgramsNamed("tgd_eval_tp"), 1);
    EXPECT_EQ(CountProgramsNamed("tgd_pp_tp"), 0);
  } else {
    EXPECT_EQ(CountProgramsNamed("tgd_disp_tp"), 0);
    EXPECT_EQ(CountProgramsNamed("tgd_pp_tp"), others + 1);
  }
  auto hooks = backend_->Hooks();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].policies, static_cast<size_t>(others + 1));

  int st_a = RunCat(*cg_a_, prefix_ + "x");
  int st_b = RunCat(*cg_b_, prefix_ + "x");
  EXPECT_TRUE(WIFEXITED(st_a));  // none of the Sigkill policies applies to A or B
  EXPECT_TRUE(WIFEXITED(st_b));
  EXPECT_EQ(Drain("openat-a").size(), 1u);
}

TEST_P(DispatchRootTest, DeleteStopsEventsAndFreesKernelMemory) {
  auto p = Load(Policy("openat-a", "a", "Post"), 2);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GT((*p)->KernelMemoryBytes(), 0u);
  RunCat(*cg_a_, prefix_ + "before");
  EXPECT_EQ(Drain("openat-a").size(), 1u);
  p->reset();
  RunCat(*cg_a_, prefix_ + "after");
  EXPECT_EQ(Drain("openat-a").size(), 0u);
  EXPECT_TRUE(backend_->Hooks().empty());
  EXPECT_EQ(CountProgramsNamed("tgd_disp_tp"), 0);
  EXPECT_EQ(CountProgramsNamed("tgd_pp_tp"), 0);
  // No config, run list or value entry is left behind.
  EXPECT_EQ(CountMapKeys(backend_->MapFd("tgd_policy_cfgs"), sizeof(uint32_t)), 0);
  EXPECT_EQ(CountMapKeys(backend_->MapFd("tgd_run_lists"), sizeof(tgd_run_key)), 0);
  EXPECT_EQ(CountMapKeys(backend_->MapFd("tgd_str_prefix"), sizeof(tgd_lpm_key)), 0);
  EXPECT_EQ(CountMapKeys(backend_->MapFd("tgd_str_values"), sizeof(tgd_str_key)), 0);
  EXPECT_EQ(CountMapKeys(backend_->MapFd("tgd_policy_counters"), sizeof(uint32_t)), 0);
}

TEST_P(DispatchRootTest, RawTracepointUnfilteredPolicy) {
  const std::string yaml = absl::StrReplaceAll(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: raw-enter
spec:
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    raw: true
    args:
    - index: 1
      type: int64
    selectors:
    - matchBinaries:
      - operator: In
        values: [BINARY]
      matchArgs:
      - index: 1
        operator: Equal
        values: ["NR"]
)", {{"BINARY", bin_}, {"NR", absl::StrCat(SYS_openat)}});
  auto p = Load(yaml, 0);
  ASSERT_TRUE(p.ok()) << p.status();
  RunCat(*cg_b_, prefix_ + "raw");
  auto events = Drain("raw-enter");
  ASSERT_GE(events.size(), 1u);  // the loader's own openat calls and the file's
  EXPECT_EQ(events[0].process_tracepoint().args(0).long_arg(), SYS_openat);
  EXPECT_EQ(backend_->Hooks()[0].key, "raw_tp/sys_enter");
}

// Many policies applying to one workload on one hook all run (one tail call
// per event, whatever their number: the kernel's 33-tail-call budget is
// never the limit). Past the run list's TGD_RUN_MAX an add is refused, and
// a workload change that makes more apply runs the first TGD_RUN_MAX and
// counts the events as truncated.
TEST_P(DispatchRootTest, ManyPoliciesOnOneWorkloadAllRunAndPastTheListAreCounted) {
  const bool dispatch = GetParam() == "dispatch";
  const int n = 45;  // > 33 tail calls; per-policy: under the kernel's 64 programs per tracepoint
  for (int i = 0; i < n; ++i) {
    auto p = Load(Policy(absl::StrCat("many-", i), "a", "Post"), 2 + i);
    ASSERT_TRUE(p.ok()) << p.status();
    policies_.push_back(std::move(*p));
  }
  RunCat(*cg_a_, prefix_ + "many");
  RunCat(*cg_b_, prefix_ + "many");
  std::map<std::string, int> counts = DrainCounts();
  ASSERT_EQ(counts.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(counts[absl::StrCat("many-", i)], 1) << i;
  auto hooks = backend_->Hooks();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].stats.tail_call_fail, 0u);
  EXPECT_EQ(hooks[0].stats.truncated_lists, 0u);
  if (!dispatch) return;  // no run lists in the per-policy loader

  for (int i = n; i < TGD_RUN_MAX; ++i) {
    auto p = Load(Policy(absl::StrCat("many-", i), "a", "Post"), 2 + i);
    ASSERT_TRUE(p.ok()) << p.status();
    policies_.push_back(std::move(*p));
  }
  auto over = Load(Policy("one-too-many", "a", "Post"), 2 + TGD_RUN_MAX);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();
  EXPECT_NE(over.status().message().find("spec.tracepoints[0]"), std::string::npos) << over.status();
  // Policies for another label apply once pod A gets it.
  for (int i = 0; i < 3; ++i) {
    auto p = Load(absl::StrReplaceAll(Policy(absl::StrCat("tier-", i), "a", "Post"), {{"app: a", "tier: x"}}),
                  200 + i);
    ASSERT_TRUE(p.ok()) << p.status();
    policies_.push_back(std::move(*p));
  }
  ASSERT_TRUE(filter_->UpdatePod({"uid-a", "pod-a", "default", {{"app", "a"}, {"tier", "x"}}},
                                 {{"cont-a", "main", "", cg_a_->id(), cg_a_->path()}})
                  .ok());
  RunCat(*cg_a_, prefix_ + "many");
  counts = DrainCounts();
  int ran = 0;
  for (const auto& [name, c] : counts) ran += c;
  EXPECT_EQ(ran, TGD_RUN_MAX);
  EXPECT_EQ(counts["many-0"], 1);  // the oldest policies run
  EXPECT_EQ(counts["tier-2"], 0);
  hooks = backend_->Hooks();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_GE(hooks[0].stats.truncated_lists, 1u);
}

// One policy with two hooks: a dispatcher on each, events from both, and
// deleting the policy detaches both.
TEST_P(DispatchRootTest, PolicyWithTwoHooks) {
  const std::string yaml = absl::StrCat(Policy("two-hooks", "a", "Post"), R"(  - subsystem: syscalls
    event: sys_enter_exit_group
    selectors:
    - matchBinaries:
      - operator: In
        values: [)", bin_, "]\n");
  auto p = Load(yaml, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(backend_->Hooks().size(), 2u);
  RunCat(*cg_a_, prefix_ + "two");
  RunCat(*cg_b_, prefix_ + "two");
  auto events = Drain("two-hooks");
  std::set<std::string> seen;
  for (const auto& e : events) seen.insert(e.process_tracepoint().event());
  EXPECT_EQ(events.size(), 2u);
  EXPECT_EQ(seen, (std::set<std::string>{"sys_enter_openat", "sys_enter_exit_group"}));
  p->reset();
  EXPECT_TRUE(backend_->Hooks().empty());
  EXPECT_EQ(CountProgramsNamed("tgd_disp_tp") + CountProgramsNamed("tgd_pp_tp"), 0);
}

// Deleting (and re-adding) a policy while its events fire: nothing breaks,
// and once a delete has returned no event of it arrives.
TEST_P(DispatchRootTest, DeleteWhileEventsFire) {
  auto loop = cg_a_->Spawn({"/bin/sh", "-c", absl::StrCat("while :; do ", bin_, " ", prefix_, "busy; done")});
  ASSERT_TRUE(loop.ok()) << loop.status();
  // Events of the policy read from the ring buffer within `d` (the loop
  // never pauses, so a drain "until quiet" would not end).
  auto drain_for = [&](absl::Duration d) {
    size_t n = 0;
    absl::Time end = absl::Now() + d;
    do {
      backend_->PollOnce(10);
      EventBus::Event ev;
      while (sub_->Next(&ev, absl::Now())) n += ev->process_tracepoint().policy_name() == "busy";
    } while (absl::Now() < end);
    return n;
  };
  for (int round = 0; round < 5; ++round) {
    auto p = Load(Policy("busy", "a", "Post"), 2);
    ASSERT_TRUE(p.ok()) << p.status();
    size_t before = 0;
    for (int i = 0; i < 50 && before == 0; ++i) before += drain_for(absl::Milliseconds(100));
    EXPECT_GT(before, 0u) << "round " << round << ": no event while the policy was loaded";
    p->reset();  // returns once no program can still see the policy
    drain_for(absl::Milliseconds(100));  // what was posted before the delete returned
    EXPECT_EQ(drain_for(absl::Milliseconds(300)), 0u) << "round " << round << ": an event after the delete returned";
  }
  kill(*loop, SIGKILL);
  testing::WaitChild(*loop).IgnoreError();
}

TEST_P(DispatchRootTest, RateLimitedPostSendsOneEventPerKeyAndInterval) {
  auto rate_limited = [&](const std::string& name, const std::string& scope) {
    return absl::StrReplaceAll(Policy(name, "a", "Post"),
                               {{"- action: Post", "- action: Post\n        rateLimit: 1m" + scope}});
  };
  // Global scope: every cat opening the same file shares one limit; a path
  // that differs within its first 40 bytes is another key.
  auto g = Load(rate_limited("rl-global", "\n        rateLimitScope: global"), 2);
  ASSERT_TRUE(g.ok()) << g.status();
  for (int i = 0; i < 3; ++i) RunCat(*cg_a_, prefix_ + "rl-same");
  RunCat(*cg_a_, prefix_ + "rl-other");
  auto events = Drain("rl-global");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].process_tracepoint().args(0).string_arg(), prefix_ + "rl-same");
  EXPECT_EQ(events[1].process_tracepoint().args(0).string_arg(), prefix_ + "rl-other");
  auto hooks = backend_->Hooks();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].stats.rate_limited, 2u);
  // Deleting the policy deletes its keys.
  int fd = backend_->MapFd("tgd_rate_limits");
  EXPECT_EQ(CountMapKeys(fd, sizeof(tgd_rate_key)), 2);
  g->reset();
  EXPECT_EQ(CountMapKeys(fd, sizeof(tgd_rate_key)), 0);

  // Thread scope (the default): each cat is a thread of its own.
  auto t = Load(rate_limited("rl-thread", ""), 2);
  ASSERT_TRUE(t.ok()) << t.status();
  for (int i = 0; i < 2; ++i) RunCat(*cg_a_, prefix_ + "rl-same");
  EXPECT_EQ(Drain("rl-thread").size(), 2u);
}

TEST_P(DispatchRootTest, RefusesWhatItCannotEnforce) {
  auto stack = Load(absl::StrReplaceAll(Policy("st", "a", "Post"),
                                        {{"- action: Post", "- action: Post\n        kernelStackTrace: true"}}),
                    2);
  EXPECT_EQ(stack.status().code(), absl::StatusCode::kUnimplemented) << stack.status();
  EXPECT_NE(stack.status().message().find("kernelStackTrace"), std::string::npos) << stack.status();

  auto missing = Load(absl::StrReplaceAll(Policy("nx", "a", "Post"), {{"sys_enter_openat", "sys_enter_nope"}}), 2);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();

  const std::string kprobe = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: kp
spec:
  kprobes:
  - call: security_file_open
    syscall: false
)";
  auto kp = Load(kprobe, 0);
  if (!KernelFeatures::Get().Has(HookFeature::kKprobe)) {
    EXPECT_EQ(kp.status().code(), absl::StatusCode::kFailedPrecondition) << kp.status();
    EXPECT_NE(kp.status().message().find("spec.kprobes[0]"), std::string::npos) << kp.status();
  } else {
    EXPECT_TRUE(kp.ok()) << kp.status();
  }
  const std::string lsm = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: lsm
spec:
  lsmhooks:
  - hook: file_open
)";
  auto lp = Load(lsm, 0);
  if (!KernelFeatures::Get().Has(HookFeature::kLsm)) {
    EXPECT_EQ(lp.status().code(), absl::StatusCode::kFailedPrecondition) << lp.status();
    EXPECT_NE(lp.status().message().find("spec.lsmhooks[0]"), std::string::npos) << lp.status();
    // The kernel's own reason, never libbpf's memlock hint.
    EXPECT_NE(lp.status().message().find(KernelFeatures::Get().Of(HookFeature::kLsm).reason), std::string::npos)
        << lp.status();
    EXPECT_EQ(lp.status().message().find("ulimit"), std::string::npos) << lp.status();
  } else {
    EXPECT_TRUE(lp.ok()) << lp.status();
  }
  // A uprobe on a symbol the binary does not have: the kernel's refusal
  // names the policy field.
  const std::string bad_uprobe = absl::StrReplaceAll(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: badup
spec:
  uprobes:
  - path: BINARY
    symbols: [no_such_symbol_tgd]
)", {{"BINARY", bin_}});
  auto up = Load(bad_uprobe, 0);
  EXPECT_FALSE(up.ok());
  EXPECT_NE(up.status().message().find("spec.uprobes[0]: "), std::string::npos) << up.status();
  kp = absl::UnavailableError("released");  // drop any loaded policy before the check below
  lp = absl::UnavailableError("released");
  EXPECT_TRUE(backend_->Hooks().empty());  // failed adds leave nothing attached
}

TEST_P(DispatchRootTest, SelectorOperatorsOnStringsIntegersPidsCapsAndNamespaces) {
  const std::string touch = absl::StrCat("/tmp/tgd-disp-", getpid(), "-touch");
  std::filesystem::copy_file("/usr/bin/touch", touch, std::filesystem::copy_options::overwrite_existing);
  chmod(touch.c_str(), 0755);
  const std::string yaml = std::string(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ops
spec:
  podSelector:
    matchLabels:
      app: a
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    - index: 7
      type: int
    selectors:
    - matchBinaries:
      - operator: Postfix
        values: ["-touch"]
      matchArgs:
      - index: 6
        operator: Postfix
        values: ["-sel"]
      - index: 7
        operator: Mask
        values: ["64"]
      matchPIDs:
      - operator: NotIn
        values: [1]
      matchCapabilities:
      - type: Effective
        operator: In
        values: ["CAP_SYS_ADMIN"]
      matchNamespaces:
      - namespace: Mnt
        operator: In
        values: ["MNTNS"]
)");
  struct stat mnt;
  ASSERT_EQ(stat("/proc/self/ns/mnt", &mnt), 0);
  const std::string policy = absl::StrReplaceAll(yaml, {{"MNTNS", absl::StrCat(mnt.st_ino)}});
  auto p = Load(policy, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string base = prefix_ + "ops";
  auto run = [&](const std::string& bin, const std::string& file) {
    auto pid = cg_a_->Spawn({bin, file});
    ASSERT_TRUE(pid.ok());
    ASSERT_TRUE(testing::WaitChild(*pid).ok());
  };
  run(touch, base + "-sel");    // O_CREAT, -touch, -sel: matches
  run(bin_, base + "-sel");     // cat: binary postfix and O_CREAT mask fail
  run(touch, base + "-other");  // path postfix fails
  auto events = Drain("ops");
  unlink((base + "-sel").c_str());
  unlink((base + "-other").c_str());
  unlink(touch.c_str());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].process_tracepoint().args(0).string_arg(), base + "-sel");
  EXPECT_NE(events[0].process_tracepoint().args(1).int_arg() & O_CREAT, 0);
}

// Two busy processes pinned to one CPU (syscall tracepoints are preemptible
// on this kernel): every event carries its own process's arguments, none is
// lost, and no evaluation is skipped for want of scratch space.
TEST_P(DispatchRootTest, BusyProcessesOnOneCpuKeepTheirOwnArguments) {
  const std::string yaml = absl::StrReplaceAll(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: busy
spec:
  podSelector:
    matchLabels:
      app: a
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Prefix
        values: [PREFIX]
)", {{"PREFIX", prefix_ + "busy"}});
  auto p = Load(yaml, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  constexpr int kOpens = 1000;  // x2 events fit the ring buffer without a reader
  std::vector<pid_t> pids;
  for (int k = 0; k < 2; ++k) {
    const std::string mine = absl::StrCat(prefix_, "busy", k, "-");
    auto pid = cg_a_->SpawnFn([mine] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(0, &one);
      sched_setaffinity(0, sizeof(one), &one);
      for (int i = 0; i < kOpens; ++i) {
        std::string path = absl::StrCat(mine, i);
        int fd = open(path.c_str(), O_RDONLY);
        if (fd >= 0) close(fd);
      }
      return 0;
    });
    ASSERT_TRUE(pid.ok()) << pid.status();
    pids.push_back(*pid);
  }
  for (pid_t pid : pids) ASSERT_TRUE(testing::WaitChild(pid).ok());
  auto events = Drain("busy");
  std::map<pid_t, int> per_child;
  for (const auto& ev : events) {
    pid_t pid = ev.process_tracepoint().process().pid().value();
    int k = pid == pids[0] ? 0 : pid == pids[1] ? 1 : -1;
    ASSERT_NE(k, -1) << "event of pid " << pid;
    EXPECT_TRUE(absl::StartsWith(ev.process_tracepoint().args(0).string_arg(), absl::StrCat(prefix_, "busy", k, "-")))
        << "pid " << pid << " got " << ev.process_tracepoint().args(0).string_arg();
    per_child[pid]++;
  }
  EXPECT_EQ(per_child[pids[0]], kOpens);
  EXPECT_EQ(per_child[pids[1]], kOpens);
  ASSERT_EQ(backend_->Hooks().size(), 1u);
  EXPECT_EQ(backend_->Hooks()[0].stats.lost, 0u);
  EXPECT_EQ(backend_->Hooks()[0].stats.scratch_busy, 0u);
}

TEST_P(DispatchRootTest, UprobeOnALibraryFunctionForTheSelectedPodOnly) {
  if (!KernelFeatures::Get().Has(HookFeature::kUprobe)) {
    GTEST_SKIP() << KernelFeatures::Get().Of(HookFeature::kUprobe).reason;
  }
  const std::string libc = testing::LibcPath();
  ASSERT_FALSE(libc.empty());
  // cat calls setlocale(LC_ALL, "") first thing.
  const std::string yaml = absl::StrReplaceAll(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: uprobe-a
spec:
  podSelector:
    matchLabels:
      app: a
  uprobes:
  - path: LIBC
    symbols: [setlocale]
    args:
    - index: 0
      type: int32
    - index: 1
      type: string
    selectors:
    - matchBinaries:
      - operator: In
        values: [BINARY]
)", {{"LIBC", libc}, {"BINARY", bin_}});
  auto p = Load(yaml, 2);
  ASSERT_TRUE(p.ok()) << p.status();
  RunCat(*cg_a_, prefix_ + "u");
  RunCat(*cg_b_, prefix_ + "u");
  while (backend_->PollOnce(50) > 0) {
  }
  std::vector<tetragon::ProcessUprobe> got;
  EventBus::Event ev;
  while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
    if (ev->has_process_uprobe() && ev->process_uprobe().policy_name() == "uprobe-a") got.push_back(ev->process_uprobe());
  }
  ASSERT_GE(got.size(), 1u);
  for (const auto& u : got) {
    EXPECT_EQ(u.symbol(), "setlocale");
    EXPECT_EQ(u.path(), libc);
    EXPECT_EQ(u.args(0).int_arg(), LC_ALL);
    EXPECT_EQ(u.args(1).string_arg(), "");
  }
  EXPECT_EQ(backend_->Hooks()[0].key, "uprobe/" + libc + ":setlocale");
}

// Shutdown detaches every hook at once: no policy runs after BeginShutdown,
// nothing loads, and dropping the policies afterwards touches no map.
TEST_P(DispatchRootTest, BeginShutdownDetachesEverythingAtOnce) {
  for (int i : {1, 2}) {
    auto p = Load(Policy(absl::StrCat("down-", i), "a", "Post"), 1 + i);
    ASSERT_TRUE(p.ok()) << p.status();
    policies_.push_back(std::move(*p));
  }
  EXPECT_NE(RunCat(*cg_a_, prefix_ + "before"), -1);
  EXPECT_EQ(Drain("down-1").size(), 1u);
  backend_->BeginShutdown();
  EXPECT_NE(RunCat(*cg_a_, prefix_ + "after"), -1);
  EXPECT_TRUE(Drain("down-1").empty());
  EXPECT_TRUE(Drain("down-2").empty());
  auto late = Load(Policy("down-3", "a", "Post"), 4);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable) << late.status();
  policies_.clear();
  EXPECT_EQ(backend_->Hooks().size(), 1u);  // its state goes with the backend
}

// A uprobe path that is not a regular ELF file is refused before anything
// is opened for reading: a FIFO no longer blocks the add (it used to hang
// in libbpf's open, inside the loader's lock), and a text file is named as
// such instead of libbpf's "Unknown error 4001".
TEST_P(DispatchRootTest, UprobeTargetsThatAreNotRegularElfFilesAreRefused) {
  if (!KernelFeatures::Get().Has(HookFeature::kUprobe)) {
    GTEST_SKIP() << KernelFeatures::Get().Of(HookFeature::kUprobe).reason;
  }
  const std::string dir = absl::StrCat("/tmp/tgd-disp-uptargets-", getpid());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(std::filesystem::create_directory(dir));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  const std::string fifo = dir + "/fifo", text = dir + "/text", link = dir + "/link-to-fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(text) << "#!/bin/sh\necho not an ELF\n";
  std::filesystem::create_symlink(fifo, link);
  const std::map<std::string, std::string> cases = {
      {fifo, "a FIFO"}, {link, "a FIFO"}, {dir, "a directory"}, {"/dev/null", "a character device"},
      {text, "not an ELF file"}, {dir + "/missing", "No such file"}};
  for (const auto& [path, why] : cases) {
    const std::string yaml = absl::StrReplaceAll(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: up-target
spec:
  uprobes:
  - path: PATH
    symbols: [main]
)", {{"PATH", path}});
    auto p = Load(yaml, 0);
    ASSERT_FALSE(p.ok()) << path;
    if (why != "No such file") {
      EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << p.status();
    }
    EXPECT_NE(p.status().message().find("spec.uprobes[0].path: "), std::string::npos) << p.status();
    EXPECT_NE(p.status().message().find(why), std::string::npos) << p.status();
    EXPECT_EQ(p.status().message().find("Unknown error"), std::string::npos) << p.status();
  }
  EXPECT_TRUE(backend_->Hooks().empty());
}

INSTANTIATE_TEST_SUITE_P(Loaders, DispatchRootTest, ::testing::Values("dispatch", "per-policy"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "dispatch" ? std::string("Dispatch") : std::string("PerPolicy");
                         });

}  // namespace
}  // namespace tgd
