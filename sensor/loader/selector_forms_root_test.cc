// End to end on real tracepoints, uprobes, cgroups and processes, for
// selector forms: matchWorkloads (per-selector workload scoping through the
// run lists), matchBinaries followChildren (a binary's descendants), several
// matchCapabilities, and a uprobe's `data` filtered by matchData.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

class SelectorFormsRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pods = testing::FilterWithPodsAB("selforms");
    ASSERT_TRUE(pods.ok()) << pods.status();
    filter_ = std::move(pods->filter);
    cg_a_ = std::move(pods->a);
    cg_b_ = std::move(pods->b);
    auto other = TestCgroup::Create("selforms-other");  // in no pod: a host workload
    ASSERT_TRUE(other.ok()) << other.status();
    cg_other_ = std::move(*other);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend("dispatch", &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    // Private copies of cat and sh: matchBinaries selects only this test's runs.
    for (auto [from, to] : {std::pair<const char*, std::string*>{"/bin/cat", &cat_}, {"/bin/sh", &sh_}}) {
      *to = absl::StrCat("/tmp/tgd-selforms-", std::filesystem::path(from).filename().string(), "-", getpid());
      std::filesystem::copy_file(from, *to, std::filesystem::copy_options::overwrite_existing);
      chmod(to->c_str(), 0755);
    }
    marker_ = absl::StrCat("/tmp/tgd-selforms-marker-", getpid());
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    for (const std::string& f : {cat_, sh_}) {
      if (!f.empty()) unlink(f.c_str());
    }
  }

  // Loads the YAML (CAT, SH and MARKER replaced) under policy-filter id
  // `filter_id` (0: the policy has no podSelector).
  absl::Status Load(const std::string& yaml, uint32_t filter_id = 0) {
    std::string text = absl::StrReplaceAll(yaml, {{"CAT", cat_}, {"SH", sh_}, {"MARKER", marker_}});
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(text));
    TGD_ASSIGN_OR_RETURN(std::unique_ptr<LoadedPolicy> p, backend_->Load(doc, filter_id, PolicyMode::kEnforce));
    policies_.push_back(std::move(p));
    return absl::OkStatus();
  }

  // Runs argv in `cg` and returns its wait status.
  int Run(TestCgroup& cg, const std::vector<std::string>& argv) {
    auto pid = cg.Spawn(argv);
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return -1;
    auto st = testing::WaitChild(*pid);
    EXPECT_TRUE(st.ok());
    return st.ok() ? *st : -1;
  }
  int RunCat(TestCgroup& cg) { return Run(cg, {cat_, marker_}); }

  // The policy's events: the action of each, in order.
  std::vector<tetragon::KprobeAction> Drain(const std::string& policy) {
    while (backend_->PollOnce(50) > 0) {
    }
    std::vector<tetragon::KprobeAction> out;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (ev->has_process_tracepoint() && ev->process_tracepoint().policy_name() == policy) {
        out.push_back(ev->process_tracepoint().action());
      }
    }
    return out;
  }

  static bool Killed(int st) { return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL; }
  static bool Exited(int st) { return WIFEXITED(st); }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_, cg_b_, cg_other_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  std::string cat_, sh_, marker_;
};

// Two selectors of one unscoped policy, scoped to pod a (Post) and pod b
// (Sigkill): each acts only in its pod, and a workload in no pod sees
// neither. Deleting the policy takes both away.
TEST_F(SelectorFormsRootTest, MatchWorkloadsScopesEachSelector) {
  ASSERT_TRUE(Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: per-selector
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    selectors:
    - matchWorkloads:
        podSelector:
          matchLabels:
            app: a
      matchBinaries:
      - operator: In
        values: [CAT]
    - matchWorkloads:
        podSelector:
          matchLabels:
            app: b
      matchBinaries:
      - operator: In
        values: [CAT]
      matchActions:
      - action: Sigkill
)")
                  .ok());
  EXPECT_TRUE(Exited(RunCat(*cg_a_)));
  std::vector<tetragon::KprobeAction> a = Drain("per-selector");
  ASSERT_FALSE(a.empty());
  for (auto act : a) EXPECT_EQ(act, tetragon::KPROBE_ACTION_POST);
  EXPECT_TRUE(Killed(RunCat(*cg_b_)));
  std::vector<tetragon::KprobeAction> b = Drain("per-selector");
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b[0], tetragon::KPROBE_ACTION_SIGKILL);
  EXPECT_TRUE(Exited(RunCat(*cg_other_)));
  EXPECT_TRUE(Drain("per-selector").empty());
  policies_.clear();
  EXPECT_TRUE(Exited(RunCat(*cg_b_)));
  EXPECT_TRUE(Drain("per-selector").empty());
}

// A policy scoped to pods a and b whose only selector is scoped to tier=gold:
// nothing until pod a gets the label, then only pod a; again nothing once
// the label goes. Pod b never.
TEST_F(SelectorFormsRootTest, MatchWorkloadsFollowsPodChanges) {
  ASSERT_TRUE(Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: gold-only
spec:
  podSelector:
    matchExpressions:
    - key: app
      operator: In
      values: [a, b]
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    selectors:
    - matchWorkloads:
        podSelector:
          matchLabels:
            tier: gold
      matchBinaries:
      - operator: In
        values: [CAT]
)",
                   /*filter_id=*/2)
                  .ok());
  EXPECT_TRUE(Exited(RunCat(*cg_a_)));
  EXPECT_TRUE(Drain("gold-only").empty());
  auto relabel = [&](labels::Labels l) {
    ASSERT_TRUE(filter_->UpdatePod({"uid-a", "pod-a", "default", std::move(l)},
                                   {{"cont-a", "main", "", cg_a_->id(), cg_a_->path()}})
                    .ok());
  };
  relabel({{"app", "a"}, {"tier", "gold"}});
  EXPECT_TRUE(Exited(RunCat(*cg_a_)));
  EXPECT_FALSE(Drain("gold-only").empty());
  EXPECT_TRUE(Exited(RunCat(*cg_b_)));
  EXPECT_TRUE(Drain("gold-only").empty());
  relabel({{"app", "a"}});
  EXPECT_TRUE(Exited(RunCat(*cg_a_)));
  EXPECT_TRUE(Drain("gold-only").empty());
}

// The policies of the followChildren tests: an open of MARKER by a process
// that ran SH, or (followChildren) whose ancestor did.
std::string ShPolicy(const std::string& name, bool follow_children) {
  return absl::StrCat(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: )", name, R"(
spec:
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
        values: [MARKER]
      matchBinaries:
      - operator: In
        followChildren: )", follow_children ? "true" : "false", R"(
        values: [SH]
)");
}

// followChildren: cat run by the shell (a child, or the shell exec'ing it)
// matches In [sh]; cat run directly does not; without followChildren the
// shell's child does not either.
TEST_F(SelectorFormsRootTest, FollowChildrenMatchesTheBinarysDescendants) {
  ASSERT_TRUE(Load(ShPolicy("follow", true)).ok());
  ASSERT_TRUE(Load(ShPolicy("no-follow", false)).ok());
  EXPECT_TRUE(Exited(Run(*cg_a_, {sh_, "-c", cat_ + " " + marker_ + "-fc; true"})));
  EXPECT_GE(Drain("follow").size(), 1u);
  EXPECT_TRUE(Drain("no-follow").empty());
  EXPECT_TRUE(Exited(Run(*cg_a_, {sh_, "-c", "exec " + cat_ + " " + marker_ + "-fc"})));  // exec'd in place
  EXPECT_GE(Drain("follow").size(), 1u);
  EXPECT_TRUE(Exited(RunCat(*cg_a_)));
  EXPECT_TRUE(Drain("follow").empty());
  // The policy's bits go with it: a new one starts from clean records.
  policies_.clear();
  ASSERT_TRUE(Load(ShPolicy("follow-again", true)).ok());
  EXPECT_TRUE(Exited(RunCat(*cg_a_)));
  EXPECT_TRUE(Drain("follow-again").empty());
}

// A shell started before the policy: its child is found through its
// ancestors' binaries. The shell waits for a file the test creates once the
// policy is loaded (no timing).
TEST_F(SelectorFormsRootTest, FollowChildrenFindsAnAncestorOlderThanThePolicy) {
  const std::string go = marker_ + "-go";
  unlink(go.c_str());
  auto pid = cg_a_->Spawn(
      {sh_, "-c", absl::StrCat("while [ ! -e ", go, " ]; do sleep 0.05; done; ", cat_, " ", marker_, "-old; true")});
  ASSERT_TRUE(pid.ok()) << pid.status();
  absl::Status loaded = Load(ShPolicy("follow-old", true));
  { std::ofstream(go).put('x'); }
  auto st = testing::WaitChild(*pid);
  unlink(go.c_str());
  ASSERT_TRUE(loaded.ok()) << loaded;
  ASSERT_TRUE(st.ok() && Exited(*st));
  EXPECT_GE(Drain("follow-old").size(), 1u);
}

// Two matchCapabilities in one selector are ANDed: In [CAP_SYS_ADMIN] and
// NotIn [CAP_NET_RAW] match a root task only once it has dropped CAP_NET_RAW
// from its effective set (Tetragon's datapath would check the first alone).
TEST_F(SelectorFormsRootTest, SeveralMatchCapabilitiesAreAnded) {
  ASSERT_TRUE(Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: caps-anded
spec:
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
        values: [MARKER]
      matchCapabilities:
      - type: Effective
        operator: In
        values: [CAP_SYS_ADMIN]
      - type: Effective
        operator: NotIn
        values: [CAP_NET_RAW]
)")
                  .ok());
  const std::string file = marker_ + "-caps";
  auto run = [&](bool drop_net_raw) {
    auto pid = cg_a_->SpawnFn([drop_net_raw, file] {
      if (drop_net_raw) {
        // <linux/capability.h>'s macros clash with the generated protobuf
        // enum names: its v3 header and data, spelled out.
        struct {
          uint32_t version = 0x20080522;
          int pid = 0;
        } hdr;
        struct {
          uint32_t effective, permitted, inheritable;
        } data[2] = {};
        if (syscall(SYS_capget, &hdr, data) != 0) return 2;
        data[0].effective &= ~(1u << 13);  // CAP_NET_RAW
        if (syscall(SYS_capset, &hdr, data) != 0) return 3;
      }
      int fd = open(file.c_str(), O_RDONLY);
      if (fd >= 0) close(fd);
      return 0;
    });
    EXPECT_TRUE(pid.ok()) << pid.status();
    auto st = pid.ok() ? testing::WaitChild(*pid) : absl::StatusOr<int>(-1);
    EXPECT_TRUE(st.ok() && WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
  };
  run(false);
  EXPECT_TRUE(Drain("caps-anded").empty());
  run(true);
  EXPECT_EQ(Drain("caps-anded").size(), 1u);
}

// A uprobe's data (as Tetragon: values resolved from the current task or
// the registers) is read after its args, filtered by matchData and rendered
// in the event's `data`: the task's tgid and comm, and (x86-64) the second
// argument's register. A matchData that does not hold drops the event.
TEST_F(SelectorFormsRootTest, UprobeDataIsReadFilteredAndRendered) {
  const std::string bin = absl::StrCat("/tmp/tgdsf-tgt-", getpid());  // comm: its first 15 bytes
  std::filesystem::copy_file("sensor/loader/testdata/usdt_target", bin,
                             std::filesystem::copy_options::overwrite_existing);
  chmod(bin.c_str(), 0755);
  auto policy = [&](const std::string& name, const std::string& comm_prefix) {
    return absl::StrCat(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: )", name, R"(
spec:
  uprobes:
  - path: ")", bin, R"("
    symbols: [tgd_target_fn]
    args:
    - index: 0
      type: int
    data:
    - index: 0
      type: int
      source: current_task
      resolve: tgid
    - index: 1
      type: string
      source: current_task
      resolve: comm
    - index: 2
      type: uint64
      source: pt_regs
      resolve: si
    selectors:
    - matchData:
      - index: 1
        operator: Prefix
        values: [")", comm_prefix, R"("]
)");
  };
  absl::Status a = Load(policy("data-match", "tgdsf-tgt-"));
  absl::Status b = Load(policy("data-nomatch", "other-"));
  auto pid = cg_a_->Spawn({bin, "2"});
  ASSERT_TRUE(pid.ok()) << pid.status();
  auto st = testing::WaitChild(*pid);
  unlink(bin.c_str());
  ASSERT_TRUE(a.ok()) << a;
  ASSERT_TRUE(b.ok()) << b;
  ASSERT_TRUE(st.ok());
  while (backend_->PollOnce(50) > 0) {
  }
  int matched = 0, unmatched = 0;
  EventBus::Event ev;
  while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
    if (!ev->has_process_uprobe()) continue;
    const tetragon::ProcessUprobe& u = ev->process_uprobe();
    if (u.policy_name() == "data-nomatch") ++unmatched;
    if (u.policy_name() != "data-match") continue;
    ++matched;
    ASSERT_EQ(u.args_size(), 1);
    ASSERT_EQ(u.data_size(), 3) << u.DebugString();
    EXPECT_EQ(u.data(0).int_arg(), *pid);
    EXPECT_EQ(u.data(1).string_arg().rfind("tgdsf-tgt-", 0), 0u) << u.data(1).string_arg();
#if defined(__x86_64__)
    EXPECT_EQ(u.data(2).size_arg(), 5u);  // tgd_target_fn(i, 5)
#endif
  }
  EXPECT_EQ(matched, 2);
  EXPECT_EQ(unmatched, 0);
}

}  // namespace
}  // namespace tgd
