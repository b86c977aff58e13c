// Issue 15 item 1, end to end with the real binary: enforcement survives the
// daemon. Victim binaries (copies of cat, each named by its own policy) run
// in a loop across a `kill -9` + restart cycle and a SIGTERM + restart cycle;
// every run of a victim that a Sigkill policy names must be killed (the gap
// is zero), and the policies come back listed in the same state and mode
// (the gRPC-added ones from --state-dir, the other from --policy-dir).
// Besides the loop, each victim also runs at fixed points of each cycle (no
// daemon at all; daemon started but still loading; settled), so every phase
// is covered whatever the timing. `tgdispatch cleanup` then removes
// everything and the victims live. With --keep-sensors-on-exit=false a
// SIGTERM detaches everything.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/sensors.grpc.pb.h"
#include "gtest/gtest.h"
#include "sensor/loader/features.h"
#include "sensor/testing/child_process.h"
#include "sensor/testing/policy_wait.h"

namespace tgd {
namespace {

constexpr char kBinary[] = "sensor/tgdispatch";

// Kills (Sigkill) any process of binary `victim` at its first openat.
std::string KillPolicy(const std::string& name, const std::string& victim) {
  return absl::StrCat(
      "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ", name,
      "\nspec:\n  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n    selectors:\n"
      "    - matchBinaries:\n      - operator: In\n        values: [\"",
      victim, "\"]\n      matchActions:\n      - action: Sigkill\n");
}

// Runs `path /etc/hostname` once; true when SIGKILL ended it.
bool RunVictim(const std::string& path) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(path.c_str(), path.c_str(), "/etc/hostname", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return false;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

struct Tally {
  std::atomic<int> runs{0}, killed{0};
};

class RestartRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF, bpffs pins)";
    if (!KernelFeatures::Get().Has(HookFeature::kTracepoint)) {
      GTEST_SKIP() << "this kernel does not attach tracepoint programs";
    }
    tag_ = absl::StrCat("tgd-restart-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    dir_ = "/tmp/" + tag_;
    bpf_dir_ = "/sys/fs/bpf/" + tag_;
    state_dir_ = dir_ + "/state";
    policy_dir_ = dir_ + "/policies";
    socket_ = dir_ + "/api.sock";
    std::filesystem::create_directories(policy_dir_);
    for (const char* v : {"dir-kill", "api-kill", "api-monitor", "api-disabled"}) {
      std::string path = dir_ + "/victim-" + v;
      std::filesystem::copy_file("/bin/cat", path);
      std::filesystem::permissions(path, std::filesystem::perms::owner_all);
      victims_[v] = path;
      tallies_[v];
    }
    std::ofstream(policy_dir_ + "/dir-kill.yaml") << KillPolicy("dir-kill", victims_["dir-kill"]);
  }

  void TearDown() override {
    StopLoop();
    if (daemon_) {
      std::cout << "last daemon log:\n" << testing::ReadFileOrEmpty(log_) << "\n";
      daemon_.reset();  // SIGKILL and reap
    }
    if (!tag_.empty()) {
      // Whatever the test left (pins keep enforcing otherwise): the uninstall
      // command, then the directories by hand should it have failed.
      testing::ChildProcess c({kBinary, "cleanup", "--bpf-dir=" + bpf_dir_, "--state-dir=" + state_dir_},
                              dir_ + "/cleanup.log");
      c.Wait();
      std::error_code ec;
      std::filesystem::remove_all(bpf_dir_, ec);
      std::filesystem::remove_all(dir_, ec);
    }
  }

  void StartDaemon(std::vector<std::string> extra = {}) {
    log_ = absl::StrCat(dir_, "/daemon-", ++runs_, ".log");
    std::vector<std::string> args = {kBinary, "serve", "--server-address=unix://" + socket_,
                                     "--bpf-dir=" + bpf_dir_, "--state-dir=" + state_dir_,
                                     "--policy-dir=" + policy_dir_, "--process-events=false", "--metrics-address="};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<testing::ChildProcess>(args, log_);
    auto channel = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
    ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)))
        << testing::ReadFileOrEmpty(log_);
    stub_ = tetragon::FineGuidanceSensors::NewStub(channel);
  }

  // Until health says nothing is loading or being replaced (bounded), and
  // `want` policies are listed, none loading.
  void AwaitSettled(int want) {
    std::string details;
    for (absl::Time end = absl::Now() + absl::Minutes(2); absl::Now() < end; absl::SleepFor(absl::Milliseconds(50))) {
      grpc::ClientContext ctx;
      tetragon::GetHealthStatusResponse resp;
      if (!stub_->GetHealth(&ctx, {}, &resp).ok() || resp.health_status_size() != 1) continue;
      details = resp.health_status(0).details();
      if (details.find("restoring") == std::string::npos && details.find("loading --policy-dir") == std::string::npos &&
          details.find("detaching") == std::string::npos) {
        break;
      }
    }
    ASSERT_TRUE(testing::WaitForPoliciesSettled(stub_.get(), want, absl::Seconds(60)))
        << details << "\n" << testing::ReadFileOrEmpty(log_);
  }

  void Stop(int sig) {
    ASSERT_TRUE(daemon_);
    kill(daemon_->pid(), sig);
    int status = daemon_->Wait();
    if (sig == SIGTERM) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::ReadFileOrEmpty(log_);
    }
    daemon_.reset();
    stub_.reset();
  }

  absl::Status Add(const std::string& yaml) {
    grpc::ClientContext ctx;
    tetragon::AddTracingPolicyRequest req;
    tetragon::AddTracingPolicyResponse resp;
    req.set_yaml(yaml);
    grpc::Status st = stub_->AddTracingPolicy(&ctx, req, &resp);
    return st.ok() ? absl::OkStatus() : absl::InternalError(st.error_message());
  }

  // name -> (state, mode) as listed.
  std::map<std::string, std::pair<tetragon::TracingPolicyState, tetragon::TracingPolicyMode>> Listed() {
    grpc::ClientContext ctx;
    tetragon::ListTracingPoliciesResponse list;
    EXPECT_TRUE(stub_->ListTracingPolicies(&ctx, {}, &list).ok());
    std::map<std::string, std::pair<tetragon::TracingPolicyState, tetragon::TracingPolicyMode>> out;
    for (const auto& p : list.policies()) out[p.name()] = {p.state(), p.mode()};
    return out;
  }

  // Which victims must die: those whose policy enforces.
  std::map<std::string, bool> must_die_ = {
      {"dir-kill", true}, {"api-kill", true}, {"api-monitor", false}, {"api-disabled", false}};

  // Runs every victim 3 times now; each must end as its policy says (a
  // policy recorded disabled is loaded disabled: never killed, also while
  // a restarted daemon loads).
  void CheckPhase(const std::string& phase) {
    for (const auto& [v, die] : must_die_) {
      for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(RunVictim(victims_[v]), die) << v << " at phase \"" << phase << "\"";
      }
    }
  }

  void StartLoop() {
    loop_ = std::thread([this] {
      while (!stop_loop_.load()) {
        for (const auto& [v, die] : must_die_) {
          bool killed = RunVictim(victims_[v]);
          tallies_[v].runs++;
          tallies_[v].killed += killed;
        }
      }
    });
  }
  void StopLoop() {
    stop_loop_ = true;
    if (loop_.joinable()) loop_.join();
  }

  int Generations() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(bpf_dir_, ec)) {
      n += e.path().filename().string().rfind("gen-", 0) == 0;
    }
    return n;
  }
  int StateFiles() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(state_dir_ + "/policies", ec)) {
      n += e.path().extension() == ".policy";
    }
    return n;
  }

  std::string tag_, dir_, bpf_dir_, state_dir_, policy_dir_, socket_, log_;
  std::map<std::string, std::string> victims_;
  std::unique_ptr<testing::ChildProcess> daemon_;
  std::unique_ptr<tetragon::FineGuidanceSensors::Stub> stub_;
  int runs_ = 0;
  std::thread loop_;
  std::atomic<bool> stop_loop_{false};
  std::map<std::string, Tally> tallies_;  // written by the loop only while it runs
};

TEST_F(RestartRootTest, NoEnforcementGapAcrossKillAndRestart) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  ASSERT_NO_FATAL_FAILURE(AwaitSettled(1));
  ASSERT_TRUE(Add(KillPolicy("api-kill", victims_["api-kill"])).ok());
  ASSERT_TRUE(Add(KillPolicy("api-monitor", victims_["api-monitor"])).ok());
  ASSERT_TRUE(Add(KillPolicy("api-disabled", victims_["api-disabled"])).ok());
  {
    grpc::ClientContext c1, c2;
    tetragon::ConfigureTracingPolicyRequest r1, r2;
    tetragon::ConfigureTracingPolicyResponse resp;
    r1.set_name("api-monitor");
    r1.set_mode(tetragon::TP_MODE_MONITOR);
    ASSERT_TRUE(stub_->ConfigureTracingPolicy(&c1, r1, &resp).ok());
    r2.set_name("api-disabled");
    r2.set_enable(false);
    ASSERT_TRUE(stub_->ConfigureTracingPolicy(&c2, r2, &resp).ok());
  }
  EXPECT_EQ(StateFiles(), 3);  // the API's, not --policy-dir's
  const auto want = Listed();
  ASSERT_EQ(want.size(), 4u);
  EXPECT_EQ(want.at("api-monitor").second, tetragon::TP_MODE_MONITOR);
  EXPECT_EQ(want.at("api-disabled").first, tetragon::TP_STATE_DISABLED);
  CheckPhase("first run");
  StartLoop();

  // kill -9: nothing runs the daemon's code, the pinned programs enforce.
  ASSERT_NO_FATAL_FAILURE(Stop(SIGKILL));
  EXPECT_EQ(Generations(), 1);
  CheckPhase("after kill -9, no daemon");
  {
    // A start that fails (here: it cannot listen) after its datapath is up
    // leaves the killed run's programs enforcing, and nothing of its own.
    std::string log = dir_ + "/failed-start.log";
    testing::ChildProcess c({kBinary, "serve", "--server-address=unix://" + dir_ + "/no/such/dir/api.sock",
                             "--bpf-dir=" + bpf_dir_, "--state-dir=" + state_dir_, "--policy-dir=" + policy_dir_,
                             "--process-events=false", "--metrics-address="},
                            log);
    int status = c.Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << testing::ReadFileOrEmpty(log);
    EXPECT_EQ(Generations(), 1) << testing::ReadFileOrEmpty(log);
    CheckPhase("after a failed start");
  }
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  CheckPhase("restarted after kill -9, loading");
  ASSERT_NO_FATAL_FAILURE(AwaitSettled(4));
  EXPECT_EQ(Listed(), want) << "the policies come back in the same state and mode";
  EXPECT_EQ(Generations(), 1) << "the killed run's programs are retired once this run's are loaded";
  CheckPhase("restarted after kill -9, settled");

  // Deleting removes a policy from the state dir: it does not come back.
  {
    grpc::ClientContext ctx;
    tetragon::DeleteTracingPolicyRequest req;
    tetragon::DeleteTracingPolicyResponse resp;
    req.set_name("api-disabled");
    ASSERT_TRUE(stub_->DeleteTracingPolicy(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(StateFiles(), 2);
  auto want2 = want;
  want2.erase("api-disabled");

  // SIGTERM keeps enforcement by default.
  ASSERT_NO_FATAL_FAILURE(Stop(SIGTERM));
  EXPECT_EQ(Generations(), 1);
  CheckPhase("after SIGTERM, no daemon");
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  CheckPhase("restarted after SIGTERM, loading");
  ASSERT_NO_FATAL_FAILURE(AwaitSettled(3));
  EXPECT_EQ(Listed(), want2);
  EXPECT_EQ(Generations(), 1);
  CheckPhase("restarted after SIGTERM, settled");
  StopLoop();

  for (const auto& [v, die] : must_die_) {
    const Tally& t = tallies_[v];
    std::cout << v << ": " << t.runs << " runs across both cycles, " << t.killed << " killed\n";
    EXPECT_GT(t.runs.load(), 0) << v;
    if (die) {
      EXPECT_EQ(t.killed.load(), t.runs.load()) << v << ": the enforcement gap must be zero";
    } else {
      EXPECT_EQ(t.killed.load(), 0) << v << " is in monitor mode or disabled (then deleted)";
    }
  }

  // Uninstall: refused while the daemon runs; then everything goes.
  std::string out_log = dir_ + "/cleanup-refused.log";
  {
    testing::ChildProcess c({kBinary, "cleanup", "--bpf-dir=" + bpf_dir_, "--state-dir=" + state_dir_}, out_log);
    int status = c.Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    EXPECT_NE(testing::ReadFileOrEmpty(out_log).find("is running"), std::string::npos)
        << testing::ReadFileOrEmpty(out_log);
  }
  ASSERT_NO_FATAL_FAILURE(Stop(SIGTERM));
  {
    testing::ChildProcess c({kBinary, "cleanup", "--bpf-dir=" + bpf_dir_, "--state-dir=" + state_dir_},
                            dir_ + "/cleanup.log");
    int status = c.Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::ReadFileOrEmpty(dir_ + "/cleanup.log");
  }
  EXPECT_FALSE(std::filesystem::exists(bpf_dir_));
  EXPECT_FALSE(std::filesystem::exists(state_dir_));
  for (const char* v : {"dir-kill", "api-kill"}) EXPECT_FALSE(RunVictim(victims_[v])) << v << " after cleanup";
}

TEST_F(RestartRootTest, KeepSensorsOnExitFalseDetachesEverything) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon({"--keep-sensors-on-exit=false"}));
  ASSERT_NO_FATAL_FAILURE(AwaitSettled(1));
  ASSERT_TRUE(Add(KillPolicy("api-kill", victims_["api-kill"])).ok());
  EXPECT_TRUE(RunVictim(victims_["api-kill"]));
  ASSERT_NO_FATAL_FAILURE(Stop(SIGTERM));
  EXPECT_EQ(Generations(), 0);
  EXPECT_FALSE(RunVictim(victims_["api-kill"]));
  EXPECT_FALSE(RunVictim(victims_["dir-kill"]));
  EXPECT_EQ(StateFiles(), 1) << "the API's policies stay recorded for the next start";
}

}  // namespace
}  // namespace tgd
