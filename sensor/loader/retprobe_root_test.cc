// Return probes end to end on uprobes/uretprobes of a test binary
// (retprobe_target): one event per call with its arguments and its return
// value, matchReturnArgs, returnCopy of a buffer the callee fills, nested
// calls of one function in one task, several threads at once, Sigkill at
// return and at entry, the per-task pairing state cleaned up, and
// returnArgAction TrackSock/UntrackSock (kprobe programs attached as uprobes,
// a tests-only option, since the field is kprobes' only). Kretprobes
// share the mechanism (the same evaluator program); this kernel cannot attach
// them, so dispatch_kernel_root_test verifies that program.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/features.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

// The bytes retprobe_target's fillbig/filliov write: byte i is 'a' + i % 26.
std::string FillPattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
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

class RetprobeRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    for (HookFeature f : {HookFeature::kUprobe, HookFeature::kUretprobe}) {
      if (!KernelFeatures::Get().Has(f)) GTEST_SKIP() << KernelFeatures::Get().Of(f).reason;
    }
    auto f = testing::InMemoryPolicyFilter();
    ASSERT_TRUE(f.ok()) << f.status();
    filter_ = std::move(*f);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend("dispatch", &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    // A private copy: the probes are on this file's inode only.
    bin_ = absl::StrCat("/tmp/tgd-retprobe-target-", getpid());
    std::filesystem::copy_file("sensor/loader/retprobe_target", bin_,
                               std::filesystem::copy_options::overwrite_existing);
    chmod(bin_.c_str(), 0755);
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    if (!bin_.empty()) unlink(bin_.c_str());
  }

  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const std::string& yaml) {
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(absl::StrReplaceAll(yaml, {{"BIN", bin_}})));
    return backend_->Load(doc, 0, PolicyMode::kEnforce);
  }

  void LoadOrDie(const std::string& yaml) {
    auto p = Load(yaml);
    ASSERT_TRUE(p.ok()) << p.status();
    policies_.push_back(std::move(*p));
  }

  // Runs the target with `args`; returns its wait status.
  int Run(const std::vector<std::string>& args) {
    pid_t pid = fork();
    if (pid == 0) {
      std::vector<char*> argv;
      std::vector<std::string> all = {bin_};
      all.insert(all.end(), args.begin(), args.end());
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
  }

  // Uprobe events of `policy` delivered so far.
  std::vector<tetragon::ProcessUprobe> Drain(const std::string& policy) {
    std::vector<tetragon::ProcessUprobe> out;
    // The ring buffer may still be filling: poll until it stays empty.
    for (int quiet = 0; quiet < 3;) {
      quiet = backend_->PollOnce(50) > 0 ? 0 : quiet + 1;
    }
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (ev->has_process_uprobe() && ev->process_uprobe().policy_name() == policy) out.push_back(ev->process_uprobe());
    }
    return out;
  }

  // Entries of the pairing maps (per-task depth, frames).
  int RetStateEntries() {
    return CountMapKeys(backend_->MapFd("tgd_ret_depth"), sizeof(uint32_t)) +
           CountMapKeys(backend_->MapFd("tgd_ret_frames"), sizeof(tgd_ret_key));
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  std::string bin_;
};

constexpr char kAddPolicy[] = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rt-add
spec:
  uprobes:
  - path: BIN
    symbols: [tgd_rt_add]
    args:
    - index: 0
      type: int64
      label: a
    - index: 1
      type: int64
    return: true
    returnArg:
      index: 0
      type: int64
)";

// One event per call, sent at return: the entry's arguments, then the
// return value (Tetragon's uprobe events have no `return` field: the
// return value is the last argument, without a label).
TEST_F(RetprobeRootTest, OneEventPerCallWithArgumentsAndReturnValue) {
  LoadOrDie(kAddPolicy);
  std::vector<std::string> keys;
  for (const HookStatus& h : backend_->Hooks()) keys.push_back(h.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"uprobe/" + bin_ + ":tgd_rt_add", "uretprobe/" + bin_ + ":tgd_rt_add"}));
  ASSERT_EQ(Run({"add", "3", "4"}), 0);
  auto got = Drain("rt-add");
  ASSERT_EQ(got.size(), 1u);
  const tetragon::ProcessUprobe& u = got[0];
  EXPECT_EQ(u.symbol(), "tgd_rt_add");
  EXPECT_EQ(u.path(), bin_);
  EXPECT_EQ(u.action(), tetragon::KPROBE_ACTION_POST);
  ASSERT_EQ(u.args_size(), 3);
  EXPECT_EQ(u.args(0).long_arg(), 3);
  EXPECT_EQ(u.args(0).label(), "a");
  EXPECT_EQ(u.args(1).long_arg(), 4);
  EXPECT_EQ(u.args(2).long_arg(), 7);
  EXPECT_EQ(u.args(2).label(), "");
  EXPECT_EQ(RetStateEntries(), 0);
  // Deleted: both hooks go, nothing is left in the pairing maps.
  policies_.clear();
  EXPECT_TRUE(backend_->Hooks().empty());
  ASSERT_EQ(Run({"add", "3", "4"}), 0);
  EXPECT_TRUE(Drain("rt-add").empty());
}

// matchReturnArgs decide at return: calls whose return value does not match
// give no event (their entries are dropped).
TEST_F(RetprobeRootTest, MatchReturnArgsFilterOnTheReturnValue) {
  LoadOrDie(absl::StrCat(kAddPolicy, R"(    selectors:
    - matchReturnArgs:
      - index: 0
        operator: GT
        values: ["1000"]
)"));
  ASSERT_EQ(Run({"add", "5", "6"}), 0);
  ASSERT_EQ(Run({"add", "600", "700"}), 0);
  auto got = Drain("rt-add");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].args_size(), 3);
  EXPECT_EQ(got[0].args(0).long_arg(), 600);
  EXPECT_EQ(got[0].args(2).long_arg(), 1300);
}

// returnCopy: the buffer is read at return, from the pointer the entry saw,
// as many bytes as the function returned; it replaces the entry's argument.
TEST_F(RetprobeRootTest, ReturnCopyReadsTheBufferTheCalleeFilled) {
  LoadOrDie(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rt-fill
spec:
  uprobes:
  - path: BIN
    symbols: [tgd_rt_fill]
    args:
    - index: 0
      type: int64
    - index: 1
      type: char_buf
      sizeArgIndex: 3
      returnCopy: true
      label: buf
    return: true
    returnArg:
      index: 0
      type: int64
)");
  ASSERT_EQ(Run({"fill", "42"}), 0);
  auto got = Drain("rt-fill");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].args_size(), 3);
  EXPECT_EQ(got[0].args(0).long_arg(), 42);
  EXPECT_EQ(got[0].args(1).bytes_arg(), "filled-42");
  EXPECT_EQ(got[0].args(1).label(), "buf");
  EXPECT_EQ(got[0].args(2).long_arg(), 9);
}

// A returnCopy buffer longer than the event record: read at return from the
// kept pointer, sent as data chunks, as far as Tetragon reads it (4095
// bytes: its return side never uses maxData), with the length returned.
TEST_F(RetprobeRootTest, ReturnCopyOfALongBufferIsTetragonsFirst4095Bytes) {
  LoadOrDie(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rt-fillbig
spec:
  uprobes:
  - path: BIN
    symbols: [tgd_rt_fill_big]
    args:
    - index: 0
      type: int64
    - index: 1
      type: char_buf
      sizeArgIndex: 3
      returnCopy: true
    return: true
    returnArg:
      index: 0
      type: int64
)");
  ASSERT_EQ(Run({"fillbig", "3000"}), 0);
  ASSERT_EQ(Run({"fillbig", "10000"}), 0);
  auto got = Drain("rt-fillbig");
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].args_size(), 3);
  EXPECT_EQ(got[0].args(1).bytes_arg(), FillPattern(3000));
  EXPECT_EQ(got[0].args(2).long_arg(), 3000);
  ASSERT_EQ(got[1].args_size(), 3);
  ASSERT_TRUE(got[1].args(1).has_truncated_bytes_arg()) << got[1].DebugString().substr(0, 300);
  EXPECT_EQ(got[1].args(1).truncated_bytes_arg().orig_size(), 10000u);
  EXPECT_EQ(got[1].args(1).truncated_bytes_arg().bytes_arg(), FillPattern(4095));
}

// returnCopy of a char_iovec: the iovecs counted at entry, read at return
// up to as many bytes as the function returned (as Tetragon), all joined.
TEST_F(RetprobeRootTest, ReturnCopyOfAnIovecStopsAtTheReturnedLength) {
  LoadOrDie(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rt-filliov
spec:
  uprobes:
  - path: BIN
    symbols: [tgd_rt_fill_iov]
    args:
    - index: 1
      type: char_iovec
      sizeArgIndex: 3
      returnCopy: true
    return: true
    returnArg:
      index: 0
      type: int64
)");
  ASSERT_EQ(Run({"filliov", "5000"}), 0);
  ASSERT_EQ(Run({"filliov", "9000"}), 0);
  auto got = Drain("rt-filliov");
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].args_size(), 2);
  EXPECT_TRUE(got[0].args(0).bytes_arg() == FillPattern(5000)) << got[0].args(0).bytes_arg().size();
  ASSERT_EQ(got[1].args_size(), 2);
  EXPECT_TRUE(got[1].args(0).bytes_arg() == FillPattern(9000)) << got[1].args(0).bytes_arg().size();
}

// A recursive function: every call pairs with its own return (the value
// each level returns is 100 + its argument).
TEST_F(RetprobeRootTest, NestedCallsOfOneFunctionPairWithTheirOwnReturns) {
  LoadOrDie(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rt-depth
spec:
  uprobes:
  - path: BIN
    symbols: [tgd_rt_depth]
    args:
    - index: 0
      type: int64
    return: true
    returnArg:
      index: 0
      type: int64
)");
  ASSERT_EQ(Run({"depth", "5"}), 0);
  auto got = Drain("rt-depth");
  ASSERT_EQ(got.size(), 6u);
  std::set<int64_t> levels;
  for (const auto& u : got) {
    ASSERT_EQ(u.args_size(), 2);
    EXPECT_EQ(u.args(1).long_arg(), 100 + u.args(0).long_arg()) << "level " << u.args(0).long_arg();
    levels.insert(u.args(0).long_arg());
  }
  EXPECT_EQ(levels, (std::set<int64_t>{0, 1, 2, 3, 4, 5}));
  // Deeper than the frames kept per task (TGD_RET_DEPTH): the calls beyond
  // it give no event, the others still pair right.
  ASSERT_EQ(Run({"depth", "20"}), 0);
  got = Drain("rt-depth");
  EXPECT_EQ(got.size(), static_cast<size_t>(TGD_RET_DEPTH));
  for (const auto& u : got) {
    ASSERT_EQ(u.args_size(), 2);
    EXPECT_EQ(u.args(1).long_arg(), 100 + u.args(0).long_arg());
    EXPECT_GT(u.args(0).long_arg(), 20 - TGD_RET_DEPTH);  // the outermost calls
  }
  EXPECT_EQ(RetStateEntries(), 0);
}

// Several threads call the function at once: each event's return value is
// the sum of its own arguments, and every call is reported once.
TEST_F(RetprobeRootTest, SeveralThreadsAtOnce) {
  LoadOrDie(kAddPolicy);
  constexpr int kThreads = 4, kCalls = 200;
  ASSERT_EQ(Run({"threads", absl::StrCat(kThreads), absl::StrCat(kCalls)}), 0);
  auto got = Drain("rt-add");
  ASSERT_EQ(got.size(), static_cast<size_t>(kThreads * kCalls));
  std::map<uint32_t, int> per_tid;
  std::set<std::pair<int64_t, int64_t>> calls;
  for (const auto& u : got) {
    ASSERT_EQ(u.args_size(), 3);
    EXPECT_EQ(u.args(2).long_arg(), u.args(0).long_arg() + u.args(1).long_arg());
    calls.insert({u.args(0).long_arg(), u.args(1).long_arg()});
    ++per_tid[u.process().tid().value()];
  }
  EXPECT_EQ(calls.size(), static_cast<size_t>(kThreads * kCalls));
  EXPECT_EQ(per_tid.size(), static_cast<size_t>(kThreads));
  for (const auto& [tid, n] : per_tid) EXPECT_EQ(n, kCalls) << "tid " << tid;
  EXPECT_EQ(RetStateEntries(), 0);
}

// matchReturnActions run at return: Sigkill kills the caller when the
// function returns the value; the event is sent.
TEST_F(RetprobeRootTest, SigkillAtReturn) {
  LoadOrDie(absl::StrCat(kAddPolicy, R"(    selectors:
    - matchReturnArgs:
      - index: 0
        operator: Equal
        values: ["4242"]
      matchReturnActions:
      - action: Sigkill
)"));
  int st = Run({"add", "4000", "242"});
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
  EXPECT_EQ(Run({"add", "1", "2"}), 0);
  auto got = Drain("rt-add");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].args_size(), 3);
  EXPECT_EQ(got[0].args(2).long_arg(), 4242);
  EXPECT_EQ(RetStateEntries(), 0);
}

// An entry whose return never comes (the task is killed at entry) gives no
// event, as in Tetragon, and its frame goes with the task.
TEST_F(RetprobeRootTest, SigkillAtEntryGivesNoEventAndLeavesNoState) {
  LoadOrDie(absl::StrCat(kAddPolicy, R"(    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["77"]
      matchActions:
      - action: Sigkill
)"));
  int st = Run({"add", "77", "1"});
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
  EXPECT_TRUE(Drain("rt-add").empty());
  EXPECT_EQ(RetStateEntries(), 0);
}

// What uprobes cannot do is refused, naming the field.
TEST_F(RetprobeRootTest, OverrideAtReturnIsRefused) {
  auto p = Load(absl::StrCat(kAddPolicy, R"(    selectors:
    - matchReturnActions:
      - action: Override
        argError: -1
)"));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("spec.uprobes[0].selectors[0].matchReturnActions[0]"), std::string::npos)
      << p.status();
  EXPECT_TRUE(backend_->Hooks().empty());
}

// Kretprobes pair through the same mechanism and evaluator program. Where
// the kernel attaches them the pair of hooks loads; elsewhere (this kernel:
// no CONFIG_KPROBES) the policy is refused with the kernel's reason, naming
// the hook, and nothing is left behind.
TEST_F(RetprobeRootTest, KretprobeLoadsWhereTheKernelAttachesKprobes) {
  auto p = Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rt-kret
spec:
  kprobes:
  - call: security_file_open
    syscall: false
    args:
    - index: 0
      type: file
    return: true
    returnArg:
      index: 0
      type: int
    selectors:
    - matchReturnArgs:
      - index: 0
        operator: NotEqual
        values: ["0"]
)");
  const bool can = KernelFeatures::Get().Has(HookFeature::kKprobe) && KernelFeatures::Get().Has(HookFeature::kKretprobe);
  if (can) {
    ASSERT_TRUE(p.ok()) << p.status();
    std::vector<std::string> keys;
    for (const HookStatus& h : backend_->Hooks()) keys.push_back(h.key);
    EXPECT_EQ(keys, (std::vector<std::string>{"kprobe/security_file_open", "kretprobe/security_file_open"}));
  } else {
    std::cout << "kretprobes do not attach here: " << KernelFeatures::Get().Of(HookFeature::kKretprobe).reason << "\n";
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition) << p.status();
    EXPECT_NE(p.status().message().find("spec.kprobes[0]"), std::string::npos) << p.status();
    EXPECT_TRUE(backend_->Hooks().empty());
  }
}

// returnArgAction (kprobes only in Tetragon's schema): kprobe policies whose
// programs are attached as uprobes on the target (a tests-only option: the
// programs, the evaluation and the events stay the kprobe ones).
class RetprobeAsKprobeRootTest : public RetprobeRootTest {
 protected:
  void SetUp() override {
    RetprobeRootTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    backend_.reset();
    DispatchOptions o;
    o.test_kprobes_as_uprobes_on = bin_;
    auto be = testing::CreateTestBackend("dispatch", &bus_, filter_.get(), std::move(o));
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
  }

  // Kprobe events delivered so far, by policy.
  std::map<std::string, std::vector<tetragon::ProcessKprobe>> DrainKprobes() {
    std::map<std::string, std::vector<tetragon::ProcessKprobe>> out;
    for (int quiet = 0; quiet < 3;) {
      quiet = backend_->PollOnce(50) > 0 ? 0 : quiet + 1;
    }
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (ev->has_process_kprobe()) out[ev->process_kprobe().policy_name()].push_back(ev->process_kprobe());
    }
    return out;
  }
};

constexpr char kSockPolicy[] = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rt-sock
spec:
  kprobes:
  - call: tgd_rt_sock_new
    syscall: false
    return: true
    returnArg:
      index: 0
      type: sock
    returnArgAction: TrackSock
  - call: tgd_rt_sock_use
    syscall: false
    args:
    - index: 0
      type: sock
  - call: tgd_rt_sock_release
    syscall: false
    args:
    - index: 0
      type: sock
    return: true
    returnArg:
      index: 0
      type: sock
    returnArgAction: UntrackSock
)";

// The object tgd_rt_sock_new returns is tracked as its caller's: a child's
// use of it (another hook of the same policy) is reported as the parent's.
// tgd_rt_sock_release's return untracks it: the next child's use is its
// own. Tracking is per policy: a second policy reading the same object
// sees the children. Nothing is left in the tracking map.
TEST_F(RetprobeAsKprobeRootTest, ReturnArgActionTracksAndUntracksTheReturnedSock) {
  LoadOrDie(kSockPolicy);
  LoadOrDie(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: rt-sock-untracked
spec:
  kprobes:
  - call: tgd_rt_sock_use
    syscall: false
    args:
    - index: 0
      type: sock
)");
  // The target prints its pid and its two children's.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    execl(bin_.c_str(), bin_.c_str(), "sock", nullptr);
    _exit(127);
  }
  close(out[1]);
  char buf[128] = {};
  ssize_t n = read(out[0], buf, sizeof(buf) - 1);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_EQ(status, 0);
  ASSERT_GT(n, 0);
  std::vector<int64_t> ids;
  for (absl::string_view w : absl::StrSplit(absl::StripAsciiWhitespace(buf), ' ')) {
    int64_t v = 0;
    ASSERT_TRUE(absl::SimpleAtoi(w, &v)) << buf;
    ids.push_back(v);
  }
  ASSERT_EQ(ids.size(), 3u) << buf;
  auto uses = [](const std::vector<tetragon::ProcessKprobe>& evs) {
    std::vector<int64_t> pids;
    for (const auto& e : evs) {
      if (e.function_name() == "tgd_rt_sock_use") pids.push_back(e.process().pid().value());
    }
    return pids;
  };
  auto all = DrainKprobes();
  const auto& got = all["rt-sock"];
  EXPECT_EQ(uses(got), (std::vector<int64_t>{ids[0], ids[2]})) << "the first use reported as the tracking parent's";
  int returns = 0;
  for (const auto& e : got) {
    if (e.function_name() == "tgd_rt_sock_new" || e.function_name() == "tgd_rt_sock_release") {
      ++returns;
      EXPECT_EQ(e.process().pid().value(), ids[0]);
      EXPECT_TRUE(e.has_return_()) << e.function_name();
    }
  }
  EXPECT_EQ(returns, 2);
  EXPECT_EQ(uses(all["rt-sock-untracked"]), (std::vector<int64_t>{ids[1], ids[2]})) << "tracking is per policy";
  EXPECT_EQ(CountMapKeys(backend_->MapFd("tgd_socktrack"), sizeof(tgd_sock_key)), 0);
  EXPECT_EQ(RetStateEntries(), 0);
}

}  // namespace
}  // namespace tgd
