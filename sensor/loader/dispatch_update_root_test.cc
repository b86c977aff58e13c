// Updates while events fire, on a real tracepoint and real cgroups, for both
// loaders: a policy's mode switched back and forth (ConfigureTracingPolicy)
// and policies replaced by delete + add. Every event must come from one
// whole config (the old or the new one: its action, its counters and the
// process's fate agree), none may be lost while the policy stays loaded,
// and none of a deleted policy may arrive once its delete returned.
#include <bpf/bpf.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/loader/per_policy_backend.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

constexpr char kPolicy[] = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: NAME
spec:
  podSelector:
    matchLabels:
      app: upd
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
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

class DispatchUpdateRootTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty())
      GTEST_SKIP() << why;
    auto f = testing::InMemoryPolicyFilter();
    ASSERT_TRUE(f.ok()) << f.status();
    filter_ = std::move(*f);
    auto cg = testing::AddTestPod(filter_.get(), "upd", "disp-upd");
    ASSERT_TRUE(cg.ok()) << cg.status();
    cg_ = std::move(*cg);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    // A private copy of cat: matchBinaries selects only this test's runs.
    bin_ = absl::StrCat("/tmp/tgd-upd-cat-", getpid());
    std::filesystem::copy_file(
        "/bin/cat", bin_, std::filesystem::copy_options::overwrite_existing);
    chmod(bin_.c_str(), 0755);
    prefix_ = absl::StrCat("/tmp/tgd-upd-marker-", getpid(), "-");
  }

  void TearDown() override {
    if (loop_ > 0) {
      kill(loop_, SIGKILL);
      testing::WaitChild(loop_).IgnoreError();
    }
    backend_.reset();
    if (!bin_.empty()) unlink(bin_.c_str());
  }

  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const std::string& name,
                                                     const std::string& action,
                                                     uint32_t filter_id = 7) {
    std::string yaml = absl::StrReplaceAll(kPolicy, {{"NAME", name},
                                                     {"BINARY", bin_},
                                                     {"PREFIX", prefix_},
                                                     {"ACTION", action}});
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    return backend_->Load(doc, filter_id, PolicyMode::kEnforce);
  }

  // Reads the ring buffer and the bus for `d`; events by policy name.
  void DrainFor(absl::Duration d,
                std::vector<tetragon::GetEventsResponse>* out) {
    absl::Time end = absl::Now() + d;
    do {
      backend_->PollOnce(10);
      EventBus::Event ev;
      while (sub_->Next(&ev, absl::Now())) out->push_back(*ev);
    } while (absl::Now() < end);
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_;
  std::unique_ptr<DispatchBackend> backend_;
  std::string bin_, prefix_;
  pid_t loop_ = -1;
};

// A Sigkill policy switched between enforce and monitor mode as fast as the
// API allows while cat runs: each run is evaluated under exactly one of the
// two configs, so every run gives one event, killed runs are counted as
// signals and surviving ones as monitor signals, and no run is missed.
TEST_P(DispatchUpdateRootTest, ModeChangesWhileEventsFireSeeOneWholeConfig) {
  auto p = Load("upd-mode", "Sigkill");
  ASSERT_TRUE(p.ok()) << p.status();
  std::atomic<bool> stop{false};
  std::atomic<int> switches{0};
  absl::Status switch_error;
  std::thread toggler([&] {
    bool monitor = false;
    while (!stop.load()) {
      monitor = !monitor;
      absl::Status s =
          (*p)->SetMode(monitor ? PolicyMode::kMonitor : PolicyMode::kEnforce);
      if (!s.ok()) {
        switch_error = s;
        return;
      }
      switches.fetch_add(1);
    }
  });
  constexpr int kRuns = 200;
  int killed = 0, survived = 0;
  for (int i = 0; i < kRuns; ++i) {
    auto pid = cg_->Spawn({bin_, prefix_ + "mode"});
    ASSERT_TRUE(pid.ok()) << pid.status();
    auto st = testing::WaitChild(*pid);
    ASSERT_TRUE(st.ok()) << st.status();
    if (WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) {
      ++killed;
    } else {
      ++survived;
    }
  }
  stop.store(true);
  toggler.join();
  ASSERT_TRUE(switch_error.ok()) << switch_error;
  std::printf("%d runs during %d mode switches: %d killed, %d monitored\n",
              kRuns, switches.load(), killed, survived);
  EXPECT_GT(switches.load(), 1);
  std::vector<tetragon::GetEventsResponse> events;
  DrainFor(absl::Seconds(1), &events);
  int mine = 0;
  for (const auto& e : events) {
    if (e.process_tracepoint().policy_name() != "upd-mode") continue;
    ++mine;
    EXPECT_EQ(e.process_tracepoint().action(), tetragon::KPROBE_ACTION_SIGKILL);
  }
  EXPECT_EQ(mine, kRuns)
      << "an event was lost or doubled while the mode switched";
  PolicyCounters c = (*p)->Counters();
  EXPECT_EQ(c.events, static_cast<uint64_t>(kRuns));
  EXPECT_EQ(c.signals, static_cast<uint64_t>(killed))
      << "a kill and its counter came from different configs";
  EXPECT_EQ(c.monitor_signals, static_cast<uint64_t>(survived));
}

// Policies replaced by add + delete while a loop opens the marker without
// pause: the workload is never without a policy between an add and the
// next delete, and no event of a deleted policy arrives after its delete
// returned.
TEST_P(DispatchUpdateRootTest, DeleteAndAddWhileEventsFire) {
  auto loop = cg_->Spawn(
      {"/bin/sh", "-c",
       absl::StrCat("while :; do ", bin_, " ", prefix_, "busy; done")});
  ASSERT_TRUE(loop.ok()) << loop.status();
  loop_ = *loop;
  constexpr int kRounds = 20;
  auto current = Load("upd-0", "Post", 100);
  ASSERT_TRUE(current.ok()) << current.status();
  std::vector<tetragon::GetEventsResponse> events;
  std::set<std::string> deleted;
  std::map<std::string, int> per_policy;
  for (int round = 1; round <= kRounds; ++round) {
    std::string name = absl::StrCat("upd-", round);
    auto next = Load(name, "Post", 100 + round);
    ASSERT_TRUE(next.ok()) << next.status();
    // Both are loaded: let events of the old one arrive, then delete it.
    DrainFor(absl::Milliseconds(50), &events);
    for (const auto& e : events)
      ++per_policy[e.process_tracepoint().policy_name()];
    events.clear();
    current->reset();
    deleted.insert(absl::StrCat("upd-", round - 1));
    // From here on no event of a deleted policy may arrive.
    DrainFor(absl::Milliseconds(100), &events);
    for (const auto& e : events) {
      const std::string& n = e.process_tracepoint().policy_name();
      EXPECT_EQ(deleted.count(n), 0u) << "round " << round << ": an event of "
                                      << n << " after its delete returned";
      ++per_policy[n];
    }
    events.clear();
    current = std::move(next);
  }
  int with_events = 0;
  for (int round = 0; round < kRounds; ++round)
    with_events += per_policy[absl::StrCat("upd-", round)] > 0;
  EXPECT_GT(with_events, kRounds / 2)
      << "the loop's events did not reach the policies";
  current->reset();
  backend_->WaitReclaimed();
  for (const char* map :
       {"tgd_policy_cfgs", "tgd_run_lists", "tgd_policy_counters"}) {
    int fd = backend_->MapFd(map);
    ASSERT_GE(fd, 0) << map;
    char first[16];
    EXPECT_NE(bpf_map_get_next_key(fd, nullptr, first), 0)
        << map << " keeps an entry after every delete";
  }
}

INSTANTIATE_TEST_SUITE_P(Loaders, DispatchUpdateRootTest,
                         ::testing::Values("dispatch", "per-policy"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "dispatch"
                                      ? std::string("Dispatch")
                                      : std::string("PerPolicy");
                         });

}  // namespace
}  // namespace tgd
