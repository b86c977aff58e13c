// End to end on a syscall tracepoint and on sock/inet_sock_set_state (real
// TCP over loopback): GetUrl and DnsLookup (done by user space against a
// local HTTP server and a local resolver stub, never blocking the ring
// buffer reader), and TrackSock (events of the policy reading a tracked
// sock report the task that tracked it) / UntrackSock.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/actions/testing/local_servers.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

class UserActionsRootTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto http = testing::LocalHttpServer::Start();
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = std::move(*http);
    auto dns = testing::LocalDnsServer::Start();
    ASSERT_TRUE(dns.ok()) << dns.status();
    dns_ = std::move(*dns);
    auto pods = testing::FilterWithPodsAB("uact");
    ASSERT_TRUE(pods.ok()) << pods.status();
    filter_ = std::move(pods->filter);
    cg_a_ = std::move(pods->a);
    cg_b_ = std::move(pods->b);
    sub_ = bus_.Subscribe(100000);
    DispatchOptions o;
    o.user_actions.dns_server = dns_->address();
    auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get(), std::move(o));
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
  }

  absl::Status Load(const std::string& yaml, uint32_t filter_id = 2) {
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    TGD_ASSIGN_OR_RETURN(std::unique_ptr<LoadedPolicy> p, backend_->Load(doc, filter_id, PolicyMode::kEnforce));
    policies_.push_back(std::move(p));
    return absl::OkStatus();
  }

  void Run(TestCgroup& cg, std::function<int()> fn) {
    auto pid = cg.SpawnFn(std::move(fn));
    ASSERT_TRUE(pid.ok()) << pid.status();
    auto st = testing::WaitChild(*pid);
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << *st;
  }

  std::vector<tetragon::ProcessTracepoint> Drain(const std::string& policy) {
    while (backend_->PollOnce(50) > 0) {
    }
    std::vector<tetragon::ProcessTracepoint> out;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (ev->has_process_tracepoint() && ev->process_tracepoint().policy_name() == policy) {
        out.push_back(ev->process_tracepoint());
      }
    }
    return out;
  }

  std::unique_ptr<testing::LocalHttpServer> http_;
  std::unique_ptr<testing::LocalDnsServer> dns_;
  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_, cg_b_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
};

TEST_P(UserActionsRootTest, GetUrlAndDnsLookupRunInUserSpace) {
  ASSERT_TRUE(Load(absl::StrReplaceAll(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: user-actions
spec:
  podSelector:
    matchLabels:
      app: a
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_getppid
    selectors:
    - matchActions:
      - action: GetUrl
        argUrl: URL
      - action: DnsLookup
        argFqdn: tgd-test.example
)", {{"URL", http_->url("/tgd-geturl")}}))
                  .ok());
  Run(*cg_b_, [] { return syscall(SYS_getppid) > 0 ? 0 : 1; });  // not selected
  Run(*cg_a_, [] { return syscall(SYS_getppid) > 0 ? 0 : 1; });
  std::vector<tetragon::ProcessTracepoint> ev = Drain("user-actions");
  ASSERT_EQ(ev.size(), 1u);
  // The event's action is the last action run, as Tetragon's (both requests
  // are made here: Tetragon's user space makes only the last one's).
  EXPECT_EQ(ev[0].action(), tetragon::KPROBE_ACTION_DNSLOOKUP);
  ASSERT_TRUE(http_->WaitRequests(1, absl::Seconds(30)));
  ASSERT_TRUE(dns_->WaitNames(1, absl::Seconds(30)));
  EXPECT_EQ(http_->Requests(), (std::vector<std::string>{"GET /tgd-geturl HTTP/1.1"}));
  EXPECT_EQ(dns_->Names(), (std::vector<std::string>{"tgd-test.example"}));
  for (int i = 0; i < 300 && backend_->user_action_stats().done < 2; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(backend_->user_action_stats().done, 2u);
  EXPECT_EQ(backend_->user_action_stats().dropped, 0u);
}

TEST_P(UserActionsRootTest, HttpsUrlsAreRefusedNamingTheField) {
  absl::Status s = Load(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: user-actions-https
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_getppid
    selectors:
    - matchActions:
      - action: GetUrl
        argUrl: https://ebpf.io
)");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_NE(s.message().find("spec.tracepoints[0].selectors[0].matchActions[0].argUrl"), std::string::npos) << s;
}

// A process of pod-a connects (TrackSock on SYN_SENT: it owns the sock), then
// a child it forks shuts the connection down: that state change runs in the
// child's context, yet the event reports the owner. UntrackSock on the
// shutdown (FIN_WAIT1) removes the entry: the child's close (CLOSE) is its
// own again... unless another policy tracks it (per-policy tracking).
TEST_P(UserActionsRootTest, TrackSockReportsTheOwner) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in la{};
  la.sin_family = AF_INET;
  la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t llen = sizeof(la);
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&la), sizeof(la)), 0);
  ASSERT_EQ(listen(ls, 4), 0);
  ASSERT_EQ(getsockname(ls, reinterpret_cast<sockaddr*>(&la), &llen), 0);
  const std::string port = std::to_string(ntohs(la.sin_port));
  const std::string policy = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: NAME
spec:
  podSelector:
    matchLabels:
      app: a
  tracepoints:
  - subsystem: sock
    event: inet_sock_set_state
    args:
    - index: 4
      type: sock
    - index: 6
      type: int
    selectors:
    - matchArgs:
      - index: 4
        operator: DPort
        values: ["PORT"]
      - index: 6
        operator: Equal
        values: ["2"]
      matchActions:
      - action: TRACKSOCK
        argSock: 4
      - action: Post
    - matchArgs:
      - index: 4
        operator: DPort
        values: ["PORT"]
      - index: 6
        operator: Equal
        values: ["4"]
      matchActions:
      - action: UNTRACKSOCK
        argSock: 4
      - action: Post
    - matchArgs:
      - index: 4
        operator: DPort
        values: ["PORT"]
)";
  ASSERT_TRUE(Load(absl::StrReplaceAll(policy, {{"NAME", "track"}, {"PORT", port}, {"TRACKSOCK", "TrackSock"},
                                                {"UNTRACKSOCK", "UntrackSock"}}))
                  .ok());
  // The control: the same selectors, without tracking.
  absl::Status control = Load(absl::StrReplaceAll(
      policy, {{"NAME", "notrack"}, {"PORT", port}, {"      - action: TRACKSOCK\n        argSock: 4\n", ""},
               {"      - action: UNTRACKSOCK\n        argSock: 4\n", ""}}),
      3);
  ASSERT_TRUE(control.ok()) << control;
  int owner_to_test[2];
  ASSERT_EQ(pipe(owner_to_test), 0);
  Run(*cg_a_, [&] {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<const sockaddr*>(&la), sizeof(la)) != 0) return 4;
    int s = accept(ls, nullptr, nullptr);
    pid_t child = fork();
    if (child == 0) {
      shutdown(c, SHUT_RDWR);  // -> FIN_WAIT1, in the child's context
      _exit(0);
    }
    int st = 0;
    waitpid(child, &st, 0);
    pid_t ids[2] = {getpid(), child};
    if (write(owner_to_test[1], ids, sizeof(ids)) != sizeof(ids)) return 5;
    close(s);
    close(c);
    return 0;
  });
  close(ls);
  pid_t ids[2] = {0, 0};
  ASSERT_EQ(read(owner_to_test[0], ids, sizeof(ids)), static_cast<ssize_t>(sizeof(ids)));
  close(owner_to_test[0]);
  close(owner_to_test[1]);
  auto fin_wait1_pid = [](const std::vector<tetragon::ProcessTracepoint>& evs) -> int64_t {
    for (const auto& e : evs) {
      if (e.args_size() == 2 && e.args(1).int_arg() == 4) return e.process().pid().value();
    }
    return -1;
  };
  std::vector<tetragon::ProcessTracepoint> all;
  while (backend_->PollOnce(50) > 0) {
  }
  EventBus::Event ev;
  std::vector<tetragon::ProcessTracepoint> track, notrack;
  while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
    if (!ev->has_process_tracepoint()) continue;
    const auto& t = ev->process_tracepoint();
    (t.policy_name() == "track" ? track : notrack).push_back(t);
  }
  ASSERT_FALSE(track.empty());
  EXPECT_EQ(track[0].action(), tetragon::KPROBE_ACTION_POST);  // TrackSock, then Post: the last action run
  EXPECT_EQ(track[0].process().pid().value(), static_cast<uint32_t>(ids[0]));
  EXPECT_EQ(fin_wait1_pid(notrack), ids[1]) << "the shutdown runs in the child";
  EXPECT_EQ(fin_wait1_pid(track), ids[0]) << "tracked: reported as the owner";
  // UntrackSock on FIN_WAIT1 removed the entry.
  int fd = backend_->MapFd("tgd_socktrack");
  ASSERT_GE(fd, 0);
  tgd_sock_key k{}, next{};
  int left = 0;
  for (int rc = bpf_map_get_next_key(fd, nullptr, &next); rc == 0; rc = bpf_map_get_next_key(fd, &k, &next)) {
    k = next;
    ++left;
  }
  EXPECT_EQ(left, 0);
}

INSTANTIATE_TEST_SUITE_P(Loaders, UserActionsRootTest, ::testing::Values("dispatch", "per-policy"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "dispatch" ? std::string("Dispatch") : std::string("PerPolicy");
                         });

}  // namespace
}  // namespace tgd
