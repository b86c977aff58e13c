// End to end on syscalls/sys_enter_openat with real process trees, for the
// selectors that look past the current task: matchPIDs followForks,
// matchParentBinaries, matchCapabilityChanges and matchNamespaceChanges
// (bpf/dispatch/lineage.bpf.h), against both loaders.
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

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

// Opens `path` (it need not exist: the syscall is what is traced).
void Touch(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd >= 0) close(fd);
}

// capget/capset without <linux/capability.h> (its CAP_* macros clash with
// tetragon.CapabilitiesType).
struct CapHeader {
  uint32_t version;
  int pid;
};
struct CapData {
  uint32_t effective, permitted, inheritable;
};
constexpr uint32_t kCapVersion3 = 0x20080522;
constexpr int kCapSysAdmin = 21;

// Forks a child running `fn`, waits for it; returns its exit code (-1 on error).
int ForkWait(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(fn());
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class LineageRootTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pod = testing::FilterWithPod("a", "lineage-a");
    ASSERT_TRUE(pod.ok()) << pod.status();
    filter_ = std::move(pod->filter);
    cg_a_ = std::move(pod->cg);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    prefix_ = absl::StrCat("/tmp/tgd-lineage-", getpid(), "-");
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    for (const std::string& f : files_) unlink(f.c_str());
  }

  // A policy on openat of PREFIX* in pod-a, with `selector` (YAML lines
  // indented for a selector entry) added to its one selector.
  absl::Status Load(const std::string& name, const std::string& selector) {
    std::string yaml = absl::StrCat(R"(apiVersion: cilium.io/v1alpha1
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
        operator: Prefix
        values: [PREFIX]
)", selector);
    yaml = absl::StrReplaceAll(yaml, {{"PREFIX", prefix_}});
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    TGD_ASSIGN_OR_RETURN(std::unique_ptr<LoadedPolicy> p, backend_->Load(doc, next_filter_id_++, PolicyMode::kEnforce));
    policies_.push_back(std::move(p));
    return absl::OkStatus();
  }

  // The file names (without the prefix) that `policy` reported opening
  // (events of every policy are collected as they arrive).
  std::multiset<std::string> Reported(const std::string& policy) {
    while (backend_->PollOnce(50) > 0) {
    }
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (!ev->has_process_tracepoint()) continue;
      std::string path = ev->process_tracepoint().args(0).string_arg();
      if (path.rfind(prefix_, 0) == 0) reported_[ev->process_tracepoint().policy_name()].insert(path.substr(prefix_.size()));
    }
    return reported_[policy];
  }

  int Wait(absl::StatusOr<pid_t> pid) {
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return -1;
    auto st = testing::WaitChild(*pid);
    EXPECT_TRUE(st.ok());
    return st.ok() && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  std::vector<std::string> files_;
  std::string prefix_;
  uint32_t next_filter_id_ = 2;
  std::map<std::string, std::multiset<std::string>> reported_;
};

// A process P waits until the policies name its pid, then opens "p", forks
// C (opens "c"), which forks G (opens "g"). followForks: In [P] reports all
// three, In [P] without it only P's, NotIn [P] followForks none of them, and
// In [C] followForks C's and G's (not its parent's).
TEST_P(LineageRootTest, FollowForksIncludesDescendants) {
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const std::string prefix = prefix_;
  auto pid = cg_a_->SpawnFn([go, prefix]() {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) return 2;
    Touch(prefix + "p");
    int rc = ForkWait([&]() {
      Touch(prefix + "c");
      return ForkWait([&]() {
        Touch(prefix + "g");
        return 0;
      });
    });
    return rc;
  });
  close(go[0]);
  ASSERT_TRUE(pid.ok()) << pid.status();
  const std::string p = std::to_string(*pid);
  auto load = [&](const std::string& name, const std::string& op, bool follow, const std::string& value) {
    return Load(name, absl::StrCat("      matchPIDs:\n      - operator: ", op, "\n        followForks: ",
                                   follow ? "true" : "false", "\n        values: [", value, "]\n"));
  };
  absl::Status s = load("follow-in", "In", true, p);
  if (s.ok()) s = load("plain-in", "In", false, p);
  if (s.ok()) s = load("follow-notin", "NotIn", true, p);
  if (!s.ok()) {
    close(go[1]);
    Wait(pid);
    FAIL() << s;
  }
  ASSERT_EQ(write(go[1], "x", 1), 1);
  close(go[1]);
  EXPECT_EQ(Wait(pid), 0);
  EXPECT_EQ(Reported("follow-in"), (std::multiset<std::string>{"p", "c", "g"}));
  EXPECT_EQ(Reported("plain-in"), (std::multiset<std::string>{"p"}));
  EXPECT_EQ(Reported("follow-notin"), (std::multiset<std::string>{}));
}

// The parent binary is the one the process ran before its exec: a shell
// copy's child `cat` matches matchParentBinaries [the copy]; `cat` started
// by this test (its parent binary is the test's) does not.
TEST_P(LineageRootTest, MatchParentBinariesSeesTheBinaryBeforeExec) {
  const std::string sh = absl::StrCat("/tmp/tgd-lineage-sh-", getpid());
  std::filesystem::copy_file("/bin/sh", sh, std::filesystem::copy_options::overwrite_existing);
  chmod(sh.c_str(), 0755);
  files_.push_back(sh);
  ASSERT_TRUE(Load("parent-sh", absl::StrCat("      matchParentBinaries:\n      - operator: In\n        values: [\"",
                                             sh, "\"]\n"))
                  .ok());
  EXPECT_EQ(Wait(cg_a_->Spawn({"/bin/cat", prefix_ + "direct"})), 1);  // no such file
  EXPECT_EQ(Wait(cg_a_->Spawn({sh, "-c", absl::StrCat("/bin/cat ", prefix_, "via-sh; true")})), 0);
  EXPECT_EQ(Reported("parent-sh"), (std::multiset<std::string>{"via-sh"}));
}

// A forked child drops CAP_SYS_ADMIN from its effective set between two
// opens: matchCapabilityChanges In [CAP_SYS_ADMIN] reports the open after
// the change, once (the record is refreshed, as Tetragon's); NotIn
// [CAP_SYS_ADMIN] (a change of other capabilities only) reports nothing.
TEST_P(LineageRootTest, MatchCapabilityChangesReportsAChangeOnce) {
  ASSERT_TRUE(Load("cap-change", "      matchCapabilityChanges:\n      - type: Effective\n        operator: In\n"
                                 "        values: [CAP_SYS_ADMIN]\n")
                  .ok());
  ASSERT_TRUE(Load("cap-change-other", "      matchCapabilityChanges:\n      - type: Effective\n"
                                       "        operator: NotIn\n        values: [CAP_SYS_ADMIN]\n")
                  .ok());
  const std::string prefix = prefix_;
  auto pid = cg_a_->SpawnFn([prefix]() {
    Touch(prefix + "before");
    CapHeader hdr = {kCapVersion3, 0};
    CapData data[2] = {};
    if (syscall(SYS_capget, &hdr, data) != 0) return 2;
    if (!(data[0].effective & (1u << kCapSysAdmin))) return 3;
    data[0].effective &= ~(1u << kCapSysAdmin);
    if (syscall(SYS_capset, &hdr, data) != 0) return 4;
    Touch(prefix + "after");
    Touch(prefix + "again");
    return 0;
  });
  ASSERT_EQ(Wait(pid), 0);
  EXPECT_EQ(Reported("cap-change"), (std::multiset<std::string>{"after"}));
  EXPECT_EQ(Reported("cap-change-other"), (std::multiset<std::string>{}));
}

// A child of a process with an exec record (a shell copy) that moves to a
// new UTS namespace: matchNamespaceChanges In [Uts] reports its next open,
// once; In [Net] nothing.
TEST_P(LineageRootTest, MatchNamespaceChangesReportsAChangeOnce) {
  ASSERT_TRUE(Load("ns-change", "      matchNamespaceChanges:\n      - operator: In\n        values: [Uts]\n").ok());
  ASSERT_TRUE(Load("ns-change-net", "      matchNamespaceChanges:\n      - operator: In\n        values: [Net]\n").ok());
  const std::string prefix = prefix_;
  auto pid = cg_a_->SpawnFn([prefix]() {
    Touch(prefix + "before");
    if (unshare(CLONE_NEWUTS) != 0) return 2;
    Touch(prefix + "after");
    Touch(prefix + "again");
    return 0;
  });
  ASSERT_EQ(Wait(pid), 0);
  EXPECT_EQ(Reported("ns-change"), (std::multiset<std::string>{"after"}));
  EXPECT_EQ(Reported("ns-change-net"), (std::multiset<std::string>{}));
}

INSTANTIATE_TEST_SUITE_P(Loaders, LineageRootTest, ::testing::Values("dispatch", "per-policy"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "dispatch" ? std::string("Dispatch") : std::string("PerPolicy");
                         });

}  // namespace
}  // namespace tgd
