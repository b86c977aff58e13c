// End to end on real tracepoints and cgroups, for Tetragon's policy features
// beyond argument types: tracepoint matchArgs that name a field index or a
// position (killer.yaml's form), and syscall lists in InMap/NotInMap.
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clocale>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>
#include <vector>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
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

// Every test runs against both loaders.
class PolicyFeaturesRootTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pods = testing::FilterWithPodsAB("feat");
    ASSERT_TRUE(pods.ok()) << pods.status();
    filter_ = std::move(pods->filter);
    cg_a_ = std::move(pods->a);
    cg_b_ = std::move(pods->b);
    sub_ = bus_.Subscribe(100000);
    DispatchOptions o;
    // "The host" is this test's namespaces (/proc/1 may not be readable here).
    o.host_ns = [](const std::string& name) -> absl::StatusOr<uint64_t> {
      struct stat st;
      std::string file = "/proc/self/ns/" + name;
      if (stat(file.c_str(), &st) != 0) return absl::FailedPreconditionError(file + " is not readable");
      return static_cast<uint64_t>(st.st_ino);
    };
    auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get(), std::move(o));
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    // A private copy of cat: matchBinaries selects only this test's runs.
    bin_ = absl::StrCat("/tmp/tgd-feat-cat-", getpid());
    std::filesystem::copy_file("/bin/cat", bin_, std::filesystem::copy_options::overwrite_existing);
    chmod(bin_.c_str(), 0755);
    prefix_ = absl::StrCat("/tmp/tgd-feat-marker-", getpid(), "-");
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    if (!bin_.empty()) unlink(bin_.c_str());
  }

  // The YAML with BINARY and PREFIX replaced, loaded as policy `filter_id`
  // (its podSelector selects pod-a).
  absl::Status LoadForPodA(const std::string& yaml, uint32_t filter_id = 2) {
    std::string text = absl::StrReplaceAll(yaml, {{"BINARY", bin_}, {"PREFIX", prefix_}});
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(text));
    TGD_ASSIGN_OR_RETURN(std::unique_ptr<LoadedPolicy> p, backend_->Load(doc, filter_id, PolicyMode::kEnforce));
    policies_.push_back(std::move(p));
    return absl::OkStatus();
  }

  int RunCat(TestCgroup& cg, const std::string& file) {
    auto pid = cg.Spawn({bin_, file});
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return -1;
    auto st = testing::WaitChild(*pid);
    EXPECT_TRUE(st.ok());
    return st.ok() ? *st : -1;
  }

  std::vector<tetragon::GetEventsResponse> Drain(const std::string& policy) {
    while (backend_->PollOnce(50) > 0) {
    }
    std::vector<tetragon::GetEventsResponse> out;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (ev->has_process_tracepoint() && ev->process_tracepoint().policy_name() == policy) out.push_back(*ev);
    }
    return out;
  }

  static bool Killed(int st) { return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL; }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_, cg_b_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  std::string bin_, prefix_;
};

// killer.yaml's form: raw_syscalls/sys_enter declares field 4 (the syscall
// id) and matchArgs index 0 is its position in args.
TEST_P(PolicyFeaturesRootTest, TracepointMatchArgsByPositionKills) {
  ASSERT_TRUE(LoadForPodA(absl::StrCat(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: kill-by-position
spec:
  podSelector:
    matchLabels:
      app: a
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - index: 4
      type: syscall64
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: [")", SYS_openat, R"("]
      matchBinaries:
      - operator: In
        values: [BINARY]
      matchActions:
      - action: Sigkill
)"))
                  .ok());
  EXPECT_TRUE(Killed(RunCat(*cg_a_, prefix_ + "x")));
  int st_b = RunCat(*cg_b_, prefix_ + "x");
  EXPECT_TRUE(WIFEXITED(st_b)) << "status " << st_b;
  auto events = Drain("kill-by-position");
  ASSERT_GE(events.size(), 1u);
  EXPECT_EQ(events[0].process_tracepoint().action(), tetragon::KPROBE_ACTION_SIGKILL);
  ASSERT_EQ(events[0].process_tracepoint().args_size(), 1);
  EXPECT_EQ(events[0].process_tracepoint().args(0).syscall_id().id(), SYS_openat);  // syscall64: syscall_id, as Tetragon
}

// Both forms in one hook: index 6 is filename's field index, index 1 is a
// position (args[1] = filename too); both select the same file.
TEST_P(PolicyFeaturesRootTest, TracepointMatchArgsByFieldIndexAndByPositionPost) {
  ASSERT_TRUE(LoadForPodA(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: post-by-both
spec:
  podSelector:
    matchLabels:
      app: a
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 7
      type: int
    - index: 6
      type: string
    selectors:
    - matchArgs:
      - index: 6
        operator: Prefix
        values: [PREFIX]
      - index: 1
        operator: Postfix
        values: [-both]
      matchBinaries:
      - operator: In
        values: [BINARY]
)")
                  .ok());
  RunCat(*cg_a_, prefix_ + "x-both");
  RunCat(*cg_a_, prefix_ + "x-other");
  RunCat(*cg_b_, prefix_ + "x-both");
  auto events = Drain("post-by-both");
  ASSERT_EQ(events.size(), 1u);
  ASSERT_EQ(events[0].process_tracepoint().args_size(), 2);
  EXPECT_EQ(events[0].process_tracepoint().args(1).string_arg(), prefix_ + "x-both");
}

// killer.yaml's selector with Sigkill for NotifyEnforcer: raw_syscalls/sys_enter,
// args [{index: 4, type: syscall64}], matchArgs index 0 InMap "list:dups" (a
// syscalls list). A process of pod-a calling dup is killed; one calling only
// other syscalls, and pod-b calling dup, are not.
TEST_P(PolicyFeaturesRootTest, SyscallListInMapKillsOnListedSyscallsOnly) {
  ASSERT_TRUE(LoadForPodA(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: kill-dups
spec:
  podSelector:
    matchLabels:
      app: a
  lists:
  - name: "dups"
    type: "syscalls"
    values:
    - "sys_dup"
    - "sys_dup2"
    - "__ia32_sys_dup"
  tracepoints:
  - subsystem: "raw_syscalls"
    event: "sys_enter"
    args:
    - index: 4
      type: "syscall64"
    selectors:
    - matchArgs:
      - index: 0
        operator: "InMap"
        values:
        - "list:dups"
      matchActions:
      - action: Sigkill
)")
                  .ok());
  auto run = [](TestCgroup& cg, bool call_dup) {
    auto pid = cg.SpawnFn([call_dup] {
      if (call_dup) syscall(SYS_dup, 1);
      syscall(SYS_getppid);
      return 0;
    });
    EXPECT_TRUE(pid.ok()) << pid.status();
    auto st = pid.ok() ? testing::WaitChild(*pid) : absl::StatusOr<int>(-1);
    return st.ok() ? *st : -1;
  };
  EXPECT_TRUE(Killed(run(*cg_a_, true)));
  int st = run(*cg_a_, false);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status " << st;
  st = run(*cg_b_, true);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status " << st;
  auto events = Drain("kill-dups");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].process_tracepoint().args(0).syscall_id().id(), SYS_dup);  // syscall64: syscall_id, as Tetragon
}

// Several matchPIDs in one selector are ANDed (Tetragon's semantics):
// NotIn [1] and NotIn [0] select every ordinary process; NotIn [1, 2] (which
// alone selects cat) and In [1, 2] select none.
TEST_P(PolicyFeaturesRootTest, SeveralMatchPidsAreAnded) {
  const std::string tmpl = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: NAME
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
      matchPIDs:
      PIDS
)";
  ASSERT_TRUE(LoadForPodA(absl::StrReplaceAll(tmpl, {{"NAME", "pids-not-0-1"},
                                                     {"PIDS", "- operator: NotIn\n        values: [1]\n"
                                                              "      - operator: NotIn\n        values: [0]"}}))
                  .ok());
  absl::Status none = LoadForPodA(absl::StrReplaceAll(
      tmpl, {{"NAME", "pids-none"},
             {"PIDS", "- operator: NotIn\n        values: [1, 2]\n      - operator: In\n        values: [1, 2]"}}),
      3);
  ASSERT_TRUE(none.ok()) << none;
  RunCat(*cg_a_, prefix_ + "pids");
  EXPECT_EQ(Drain("pids-not-0-1").size(), 1u);
  RunCat(*cg_a_, prefix_ + "pids");
  EXPECT_EQ(Drain("pids-none").size(), 0u);
}

// isNamespaceCapability: capabilities count only outside the host's user
// namespace. Root in the host namespace (it has CAP_SYS_ADMIN) does not match;
// the same process after unshare(CLONE_NEWUSER) does.
TEST_P(PolicyFeaturesRootTest, NamespaceCapabilitiesOnlyOutsideTheHostUserNamespace) {
  absl::Status loaded = LoadForPodA(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ns-caps
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
      matchCapabilities:
      - type: Effective
        operator: In
        isNamespaceCapability: true
        values: [CAP_SYS_ADMIN]
)");
  ASSERT_TRUE(loaded.ok()) << loaded;
  const std::string file = prefix_ + "nscap";
  auto run = [&](bool new_userns) {
    auto pid = cg_a_->SpawnFn([new_userns, file] {
      if (new_userns && unshare(CLONE_NEWUSER) != 0) return 2;
      int fd = open(file.c_str(), O_RDONLY);
      if (fd >= 0) close(fd);
      return 0;
    });
    EXPECT_TRUE(pid.ok()) << pid.status();
    auto st = pid.ok() ? testing::WaitChild(*pid) : absl::StatusOr<int>(-1);
    return st.ok() ? *st : -1;
  };
  int st = run(false);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  EXPECT_EQ(Drain("ns-caps").size(), 0u);
  st = run(true);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 2) GTEST_SKIP() << "unshare(CLONE_NEWUSER) is not allowed here";
  EXPECT_EQ(Drain("ns-caps").size(), 1u);
}

// A uprobe with several symbols attaches one uprobe per symbol, each event
// naming its symbol.
TEST_P(PolicyFeaturesRootTest, UprobeWithSeveralSymbols) {
  if (!KernelFeatures::Get().Has(HookFeature::kUprobe)) {
    GTEST_SKIP() << KernelFeatures::Get().Of(HookFeature::kUprobe).reason;
  }
  const std::string libc = testing::LibcPath();
  ASSERT_FALSE(libc.empty());
  ASSERT_TRUE(LoadForPodA(absl::StrReplaceAll(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: uprobe-symbols
spec:
  podSelector:
    matchLabels:
      app: a
  uprobes:
  - path: LIBC
    symbols: [getloadavg, setlocale]
    args:
    - index: 1
      type: int32
)", {{"LIBC", libc}}))
                  .ok());
  auto run = [](TestCgroup& cg) {
    auto pid = cg.SpawnFn([] {
      double avg[1];
      getloadavg(avg, 1);
      setlocale(LC_NUMERIC, "C");
      return 0;
    });
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (pid.ok()) {
      EXPECT_TRUE(testing::WaitChild(*pid).ok());
    }
  };
  run(*cg_a_);
  run(*cg_b_);
  while (backend_->PollOnce(50) > 0) {
  }
  std::map<std::string, int> by_symbol;
  EventBus::Event ev;
  while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
    if (!ev->has_process_uprobe() || ev->process_uprobe().policy_name() != "uprobe-symbols") continue;
    const tetragon::ProcessUprobe& u = ev->process_uprobe();
    ++by_symbol[u.symbol()];
    if (u.symbol() == "getloadavg") {
      EXPECT_EQ(u.args(0).int_arg(), 1);
    }
  }
  EXPECT_EQ(by_symbol["getloadavg"], 1);
  EXPECT_EQ(by_symbol["setlocale"], 1);
  EXPECT_EQ(backend_->Hooks().size(), 2u);
}

// fentries parse; the kernel decides how the add is refused: FAILED_PRECONDITION
// with the kernel's reason where fentry programs cannot attach (this VM),
// UNIMPLEMENTED naming the field where they can (no fentry datapath yet).
TEST_P(PolicyFeaturesRootTest, FentriesAreRefusedWithTheKernelsReason) {
  absl::Status s = LoadForPodA(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: fentry-policy
spec:
  fentries:
  - call: vfs_read
    syscall: false
)");
  const FeatureProbe& fentry = KernelFeatures::Get().Of(HookFeature::kFentry);
  if (fentry.available) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("spec.fentries[0]: this kernel cannot run fentry programs: "), std::string::npos) << s;
    EXPECT_NE(s.message().find(fentry.reason), std::string::npos) << s;
    std::cout << "fentry refusal here: " << s.message() << "\n";
  }
  EXPECT_TRUE(policies_.empty());
}

// The event's action is the last action the selector ran, as Tetragon's
// (a Signal then a Post reports Post; a Post then a Signal reports Signal).
// SIGWINCH is ignored by default, so cat runs on.
TEST_P(PolicyFeaturesRootTest, EventActionIsTheLastActionRun) {
  for (const auto& [name, actions, want] :
       std::vector<std::tuple<std::string, std::string, tetragon::KprobeAction>>{
           {"signal-then-post", "      - action: Signal\n        argSig: 28\n      - action: Post\n",
            tetragon::KPROBE_ACTION_POST},
           {"post-then-signal", "      - action: Post\n      - action: Signal\n        argSig: 28\n",
            tetragon::KPROBE_ACTION_SIGNAL}}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(LoadForPodA(absl::StrCat(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: )", name, R"(
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
        operator: Equal
        values: [PREFIX)", name, R"(]
      matchBinaries:
      - operator: In
        values: [BINARY]
      matchActions:
)", actions),
                            static_cast<uint32_t>(2 + policies_.size()))
                    .ok());
    int st = RunCat(*cg_a_, prefix_ + name);
    EXPECT_TRUE(WIFEXITED(st)) << "status " << st;
    auto events = Drain(name);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].process_tracepoint().action(), want);
  }
}

INSTANTIATE_TEST_SUITE_P(Loaders, PolicyFeaturesRootTest, ::testing::Values("dispatch", "per-policy"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "dispatch" ? std::string("Dispatch") : std::string("PerPolicy");
                         });

}  // namespace
}  // namespace tgd
