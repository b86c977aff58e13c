// End to end: kernelStackTrace and userStackTrace on Post. The stack ids are
// captured in the datapath into the shared tgd_stacks map, carried in the
// ring buffer record and symbolized when the event is decoded.
// - Rendered in process_kprobe (the only Tetragon event with stack fields):
//   kprobes cannot attach on every kernel, so the kprobe hook runs attached
//   as a uprobe on this test binary (DispatchOptions::
//   test_kprobes_as_uprobes_on): kprobe programs, kprobe events.
// - Kernel stacks need a kernel-context hook: a syscall tracepoint, whose
//   stacks are handed to the test (DispatchOptions::test_on_tracepoint_stacks).
#include <limits.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/features.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/process/process_cache.h"
#include "sensor/testing/cgroup.h"

// The probed function of this binary, and its caller.
extern "C" __attribute__((noinline)) int tgd_stack_target(int x) {
  asm volatile("" ::: "memory");
  return static_cast<int>(syscall(SYS_getppid)) + x;
}
extern "C" __attribute__((noinline)) int tgd_stack_caller(int x) {
  int r = tgd_stack_target(x + 1);
  asm volatile("" ::: "memory");
  return r;
}

namespace tgd {
namespace {

using testing::TestCgroup;

std::string Frames(const std::vector<StackFrame>& fs) {
  std::vector<std::string> out;
  for (const StackFrame& f : fs) out.push_back(absl::StrCat(f.symbol, "+0x", absl::Hex(f.offset), " ", f.module));
  return absl::StrJoin(out, "\n  ");
}

class StackTracesRootTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    char self[PATH_MAX];
    ASSERT_NE(realpath("/proc/self/exe", self), nullptr);
    self_ = self;
    auto pods = testing::FilterWithPodsAB("stack");
    ASSERT_TRUE(pods.ok()) << pods.status();
    filter_ = std::move(pods->filter);
    cg_a_ = std::move(pods->a);
    cg_b_ = std::move(pods->b);
    sub_ = bus_.Subscribe(100000);
    DispatchOptions o;
    o.test_kprobes_as_uprobes_on = self_;
    o.test_on_tracepoint_stacks = [this](uint32_t, const std::vector<StackFrame>& k,
                                         const std::vector<StackFrame>& u) {
      tp_kernel_.push_back(k);
      tp_user_.push_back(u);
    };
    auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get(), std::move(o));
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
  }

  absl::Status Load(const std::string& yaml) {
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    TGD_ASSIGN_OR_RETURN(std::unique_ptr<LoadedPolicy> p, backend_->Load(doc, 2, PolicyMode::kEnforce));
    policies_.push_back(std::move(p));
    return absl::OkStatus();
  }

  // Runs tgd_stack_caller in a child of `cg` that stays alive (its mappings
  // readable) until `done` says the events were decoded; then reaps it.
  template <typename Done>
  void RunTarget(TestCgroup& cg, Done done) {
    int go[2];
    ASSERT_EQ(pipe(go), 0);
    auto pid = cg.SpawnFn([&] {
      close(go[1]);
      tgd_stack_caller(1);
      char c;
      return read(go[0], &c, 1) == 1 ? 0 : 1;
    });
    close(go[0]);
    ASSERT_TRUE(pid.ok()) << pid.status();
    // Waits for the event itself, not for a time: the child blocks until
    // released. Bounded so that a missing event fails instead of hanging.
    for (int i = 0; i < 200 && !done(); ++i) Poll();
    ASSERT_EQ(write(go[1], "x", 1), 1);
    close(go[1]);
    auto st = testing::WaitChild(*pid);
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
  }

  void Poll() {
    backend_->PollOnce(25);
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now())) {
      if (ev->has_process_kprobe()) kprobe_.push_back(ev->process_kprobe());
    }
  }

  std::string self_;
  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_, cg_b_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  std::vector<tetragon::ProcessKprobe> kprobe_;
  std::vector<std::vector<StackFrame>> tp_kernel_, tp_user_;
};

// process_kprobe carries user_stack_trace as Tetragon renders it: the probed
// function of the test binary, module = its path, offset = the file offset;
// no address (Tetragon's --expose-stack-addresses is off). A uprobe runs in
// user context: its kernel stack has no frames (bpf_get_stackid: -EFAULT).
TEST_P(StackTracesRootTest, KprobeEventCarriesTheUserStack) {
  if (!KernelFeatures::Get().Has(HookFeature::kUprobe)) {
    GTEST_SKIP() << KernelFeatures::Get().Of(HookFeature::kUprobe).reason;
  }
  ASSERT_TRUE(Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: stacks-kprobe
spec:
  podSelector:
    matchLabels:
      app: a
  kprobes:
  - call: tgd_stack_target
    syscall: false
    selectors:
    - matchActions:
      - action: Post
        kernelStackTrace: true
        userStackTrace: true
)")
                  .ok());
  RunTarget(*cg_a_, [&] { return !kprobe_.empty(); });
  RunTarget(*cg_b_, [] { return false; });  // not selected: no event
  Poll();
  ASSERT_EQ(kprobe_.size(), 1u);
  const tetragon::ProcessKprobe& k = kprobe_[0];
  EXPECT_EQ(k.policy_name(), "stacks-kprobe");
  EXPECT_EQ(k.function_name(), "tgd_stack_target");
  EXPECT_EQ(k.action(), tetragon::KPROBE_ACTION_POST);
  ASSERT_GT(k.user_stack_trace_size(), 0);
  const tetragon::StackTraceEntry& top = k.user_stack_trace(0);
  EXPECT_EQ(top.symbol(), "tgd_stack_target");
  EXPECT_EQ(top.module(), self_);
  EXPECT_GT(top.offset(), 0u);
  EXPECT_EQ(top.address(), 0u);
  EXPECT_EQ(k.kernel_stack_trace_size(), 0);
  std::cout << "user stack of the kprobe event:\n";
  for (const auto& e : k.user_stack_trace()) std::cout << "  " << e.symbol() << " " << e.module() << "+0x" << std::hex << e.offset() << std::dec << "\n";
}

// An event held back for its process (its exec not in the process cache)
// keeps the user stack read when its record arrived, though the process has
// exited by the time the event is sent.
TEST_P(StackTracesRootTest, HeldEventKeepsItsUserStack) {
  if (!KernelFeatures::Get().Has(HookFeature::kUprobe)) {
    GTEST_SKIP() << KernelFeatures::Get().Of(HookFeature::kUprobe).reason;
  }
  ProcessCache cache("test-node", 1024, 0);  // empty: every event is held
  // The backend's reader uses `cache`: it goes first, whatever way this
  // test ends (TearDown runs after `cache` is gone).
  absl::Cleanup drop_backend = [this] { TearDown(); };
  backend_.reset();
  DispatchOptions o;
  o.test_kprobes_as_uprobes_on = self_;
  o.processes = &cache;
  o.event_cache.retries = 1;
  o.event_cache.retry_delay = absl::Milliseconds(20);
  auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get(), std::move(o));
  ASSERT_TRUE(be.ok()) << be.status();
  backend_ = std::move(*be);
  ASSERT_TRUE(Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: stacks-held
spec:
  podSelector:
    matchLabels:
      app: a
  kprobes:
  - call: tgd_stack_target
    syscall: false
    selectors:
    - matchActions:
      - action: Post
        userStackTrace: true
)")
                  .ok());
  // The child waits until its record was read (and held), then exits
  // before the event is sent.
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  auto pid = cg_a_->SpawnFn([&] {
    close(go[1]);
    tgd_stack_caller(1);
    char c;
    return read(go[0], &c, 1) == 1 ? 0 : 1;
  });
  close(go[0]);
  ASSERT_TRUE(pid.ok()) << pid.status();
  int received = 0;
  for (int i = 0; i < 200 && received == 0; ++i) received = backend_->PollOnce(25);
  ASSERT_EQ(write(go[1], "x", 1), 1);
  close(go[1]);
  ASSERT_TRUE(testing::WaitChild(*pid).ok());
  ASSERT_GT(received, 0);
  EXPECT_TRUE(kprobe_.empty());  // held: its process is not in the cache
  for (int i = 0; i < 200 && kprobe_.empty(); ++i) Poll();
  ASSERT_EQ(kprobe_.size(), 1u);
  ASSERT_GT(kprobe_[0].user_stack_trace_size(), 0);
  EXPECT_EQ(kprobe_[0].user_stack_trace(0).symbol(), "tgd_stack_target");
}

// The kernel stack of a syscall tracepoint names the syscall entry path; the
// user stack the C library's syscall wrapper or this binary.
TEST_P(StackTracesRootTest, TracepointKernelStackNamesTheSyscallEntry) {
  ASSERT_TRUE(Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: stacks-tracepoint
spec:
  podSelector:
    matchLabels:
      app: a
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_getppid
    selectors:
    - matchActions:
      - action: Post
        kernelStackTrace: true
        userStackTrace: true
)")
                  .ok());
  RunTarget(*cg_a_, [&] { return !tp_kernel_.empty(); });
  ASSERT_EQ(tp_kernel_.size(), 1u);
  const std::vector<StackFrame>& k = tp_kernel_[0];
  std::cout << "kernel stack of sys_enter_getppid:\n  " << Frames(k) << "\nuser stack:\n  " << Frames(tp_user_[0])
            << "\n";
  bool entry = false;
  for (const StackFrame& f : k) {
    EXPECT_TRUE(f.module.empty());
    entry |= f.symbol == "do_syscall_64" || absl::StartsWith(f.symbol, "entry_SYSCALL");
  }
  EXPECT_TRUE(entry) << Frames(k);
  bool user_known = false;
  for (const StackFrame& f : tp_user_[0]) {
    user_known |= absl::StrContains(f.module, "libc") || f.module == self_;
  }
  EXPECT_TRUE(user_known) << Frames(tp_user_[0]);
}

// A stack trace on a hook whose Tetragon event has no field for it is refused
// (without the test hook), naming the field.
TEST_P(StackTracesRootTest, StackTracesOutsideKprobesAreRefused) {
  backend_.reset();
  auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get());
  ASSERT_TRUE(be.ok()) << be.status();
  backend_ = std::move(*be);
  absl::Status s = Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: stacks-refused
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_getppid
    selectors:
    - matchActions:
      - action: Post
        userStackTrace: true
)");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_TRUE(absl::StartsWith(s.message(), "spec.tracepoints[0].selectors[0].matchActions[0].userStackTrace: "))
      << s;
}

// The shared maps behind stack traces and TrackSock cost a fixed amount of
// kernel memory, whatever the number of policies and CPUs (Tetragon: ~34 MB
// of stack map per policy that asks for stacks).
TEST_P(StackTracesRootTest, SharedMapsMemory) {
  auto memlock = [](int fd) -> int64_t {
    std::ifstream in(absl::StrCat("/proc/self/fdinfo/", fd));
    std::string line;
    while (std::getline(in, line)) {
      if (absl::StartsWith(line, "memlock:")) return std::stoll(line.substr(8));
    }
    return -1;
  };
  const int64_t stacks = memlock(backend_->MapFd("tgd_stacks"));
  const int64_t socks = memlock(backend_->MapFd("tgd_socktrack"));
  std::cout << "kernel memory: tgd_stacks " << stacks << " bytes, tgd_socktrack " << socks << " bytes\n";
  ASSERT_GT(stacks, 0);
  ASSERT_GT(socks, 0);
  EXPECT_LT(stacks, int64_t{3} << 20);
  EXPECT_LT(socks, int64_t{4} << 20);
}

INSTANTIATE_TEST_SUITE_P(Loaders, StackTracesRootTest, ::testing::Values("dispatch", "per-policy"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "dispatch" ? std::string("Dispatch") : std::string("PerPolicy");
                         });

}  // namespace
}  // namespace tgd
