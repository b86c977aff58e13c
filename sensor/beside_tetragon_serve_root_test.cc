// Root test of `tgdispatch serve --tetragon-bpf-dir` beside a stand-in
// Tetragon agent (sensor/policyfilter/testing/fake_agent): more scoped
// policies than the agent's 128-entry map holds load from --policy-dir, the
// agent's maps stay exactly as it wrote them while the daemon runs and after
// it stops, and `tgdispatch policyfilter dump --tetragon-bpf-dir` shows both
// owners with no inconsistency.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/sensors.grpc.pb.h"
#include "gtest/gtest.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/policyfilter/testing/fake_agent.h"
#include "sensor/policymgr/recording_backend.h"
#include "sensor/testing/cgroup.h"
#include "sensor/testing/child_process.h"
#include "sensor/testing/policy_wait.h"

namespace tgd {
namespace {

constexpr char kBinary[] = "sensor/tgdispatch";
constexpr int kPolicies = 130;

int RunToExit(const std::vector<std::string>& args, const std::string& log,
              std::string* output) {
  testing::ChildProcess c(args, log);
  int status = c.Wait();
  *output = testing::ReadFileOrEmpty(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(BesideTetragonServeRootTest,
     ServesMoreScopedPoliciesThanTheAgentsMapsHoldAndLeavesThemAlone) {
  if (std::string why = testing::RootTestSkipReason(); !why.empty())
    GTEST_SKIP() << why;
  const std::string tag = absl::StrCat("tgd-beside-", getpid());
  const std::string agent_dir = "/sys/fs/bpf/" + tag + "-agent";
  const std::string bpf_dir = "/sys/fs/bpf/" + tag;
  const std::string socket = "/tmp/" + tag + ".sock";
  const std::string tmp = ::testing::TempDir() + "/" + tag;
  const std::string policy_dir = tmp + "/policies", log = tmp + "/daemon.log";
  std::filesystem::create_directories(policy_dir);
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const std::string& d : dirs) std::filesystem::remove_all(d, ec);
    }
  } cleanup{{tmp, bpf_dir, agent_dir}};
  ASSERT_TRUE(EnsureBpffsDir(agent_dir).ok());

  testing::FakeAgentOptions ao;
  ao.dir = agent_dir;
  auto agent = testing::FakeTetragonAgent::Create(ao);
  ASSERT_TRUE(agent.ok()) << agent.status();
  testing::FakeTetragonAgent& a = **agent;
  ASSERT_TRUE(a.AddPod("agent-pod", "a", 424242).ok());
  for (uint32_t id = 2; id < 12; ++id)
    ASSERT_TRUE(a.AddPolicy(id, "a", id == 11).ok());

  // One pod of ours (its cgroup made by the daemon), and kPolicies scoped
  // policies, one in 13 on that pod (the others select no pod).
  std::ofstream(tmp + "/workloads.yaml")
      << "pods:\n  - name: p\n    labels: {app: a}\n    containers:\n      - "
         "name: main\n        cgroupPath: /"
      << tag << "/p/main\n        create: true\n";
  for (int i = 0; i < kPolicies; ++i) {
    std::string app = i % 13 == 0 ? "a" : absl::StrCat("none", i);
    std::ofstream(absl::StrCat(policy_dir, "/p", i, ".yaml"))
        << testing::TestPolicyYaml(
               absl::StrCat("scoped-", i),
               "  podSelector:\n    matchLabels:\n      app: " + app + "\n");
  }

  {
    testing::ChildProcess daemon(
        {kBinary, "serve", "--server-address=unix://" + socket,
         "--bpf-dir=" + bpf_dir, "--tetragon-bpf-dir=" + agent_dir,
         "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
         "--policy-dir=" + policy_dir, "--workloads=" + tmp + "/workloads.yaml",
         "--process-events=false", "--metrics-address="},
        log);
    auto channel = grpc::CreateChannel("unix://" + socket,
                                       grpc::InsecureChannelCredentials());
    ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                          std::chrono::seconds(120)))
        << testing::ReadFileOrEmpty(log);
    auto stub = tetragon::FineGuidanceSensors::NewStub(channel);
    // --policy-dir loads in the background once the API answers.
    ASSERT_TRUE(testing::WaitForPoliciesSettled(stub.get(), kPolicies, absl::Minutes(2)))
        << testing::ReadFileOrEmpty(log);
    grpc::ClientContext ctx;
    tetragon::ListTracingPoliciesResponse resp;
    ASSERT_TRUE(stub->ListTracingPolicies(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.policies_size(), kPolicies) << testing::ReadFileOrEmpty(log);
    for (const auto& p : resp.policies()) {
      EXPECT_EQ(p.state(), tetragon::TP_STATE_ENABLED)
          << p.name() << ": " << p.error();
      EXPECT_GE(p.filter_id(), 0x40000000u) << p.name();
    }

    auto now = a.Read();
    ASSERT_TRUE(now.ok()) << now.status();
    EXPECT_EQ(*now, a.Expected())
        << "the agent's maps changed while the daemon runs";

    std::string out;
    EXPECT_EQ(
        RunToExit({kBinary, "policyfilter", "dump", "--bpf-dir=" + bpf_dir,
                   "--tetragon-bpf-dir=" + agent_dir},
                  tmp + "/dump.log", &out),
        0)
        << out;
    EXPECT_NE(out.find("[tetragon] 424242: 1(all-pods) 2 3"), std::string::npos)
        << out;
    EXPECT_NE(out.find("[tgdispatch] 1(all-pods): "), std::string::npos) << out;
    EXPECT_NE(out.find("inconsistencies: none"), std::string::npos) << out;

    ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
    int status = daemon.Wait();
    ASSERT_TRUE(WIFEXITED(status)) << testing::ReadFileOrEmpty(log);
    EXPECT_EQ(WEXITSTATUS(status), 0) << testing::ReadFileOrEmpty(log);
  }
  auto after = a.Read();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, a.Expected()) << "the agent's maps changed at shutdown";
  EXPECT_TRUE(std::filesystem::exists(agent_dir + "/policy_filter_maps"));
  EXPECT_FALSE(std::filesystem::exists(bpf_dir + "/policy_filter_maps"));
}

}  // namespace
}  // namespace tgd
