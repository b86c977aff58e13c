// End to end: the real `tgdispatch serve` with a workloads file naming a
// throwaway cgroup as a pod container. A process run in that cgroup (and one
// in a sub-cgroup of it) gets the pod on its process_exec, process_exit and
// policy (process_tracepoint) events; a process outside gets none.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <atomic>
#include <thread>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/sensors.grpc.pb.h"
#include "gtest/gtest.h"
#include "sensor/policymgr/recording_backend.h"
#include "sensor/testing/cgroup.h"
#include "sensor/testing/child_process.h"

namespace tgd {
namespace {

constexpr char kBinary[] = "sensor/tgdispatch";




class PodEventsRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = testing::RootTestSkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    tag_ = absl::StrCat("tgd-pod-test-", getpid());
    socket_ = absl::StrCat("/tmp/", tag_, ".sock");
    bpf_dir_ = absl::StrCat("/sys/fs/bpf/", tag_);
    dir_ = absl::StrCat(::testing::TempDir(), "/", tag_);
    std::filesystem::create_directories(dir_ + "/policies");
    bin_ = absl::StrCat("/tmp/", tag_, "-cat");
    std::filesystem::copy_file("/bin/cat", bin_, std::filesystem::copy_options::overwrite_existing);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove_all(bpf_dir_, ec);  // pins a killed daemon left behind
    std::filesystem::remove(bin_, ec);
    unlink(socket_.c_str());
  }

  std::string tag_, socket_, bpf_dir_, dir_, bin_;
};

void ExpectWebPod(const tetragon::Process& p, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(p.has_pod()) << p.DebugString();
  const tetragon::Pod& pod = p.pod();
  EXPECT_EQ(pod.namespace_(), "shop");
  EXPECT_EQ(pod.name(), "web-0");
  EXPECT_EQ(pod.uid(), "5b7c0d3e-0000-4000-8000-00000000beef");
  EXPECT_EQ(pod.workload(), "web-0");
  EXPECT_EQ(pod.workload_kind(), "Pod");
  EXPECT_EQ(pod.pod_labels().size(), 2);
  EXPECT_EQ(pod.pod_labels().count("app") ? pod.pod_labels().at("app") : "", "web");
  EXPECT_EQ(pod.pod_labels().count("tier") ? pod.pod_labels().at("tier") : "", "front");
  EXPECT_EQ(pod.container().id(), "ctr-web");
  EXPECT_EQ(pod.container().name(), "nginx");
  EXPECT_EQ(pod.container().image().name(), "docker.io/library/nginx:1.25");
  // Tetragon's docker (container id, 31 characters at most) and the pid in
  // the container (no pid namespace here: the pid itself).
  EXPECT_EQ(p.docker(), "ctr-web");
  EXPECT_EQ(pod.container().pid().value(), p.pid().value());
  ASSERT_TRUE(p.has_in_init_tree());
  EXPECT_FALSE(p.in_init_tree().value());
}

TEST_F(PodEventsRootTest, ProcessesInAPodCgroupCarryThePod) {
  auto container = testing::TestCgroup::Create("pod-web");
  ASSERT_TRUE(container.ok()) << container.status();
  auto sub = (*container)->CreateChild("sub");  // a sub-cgroup, as runtimes make
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::ofstream(dir_ + "/workloads.yaml") << absl::StrCat(
      "pods:\n"
      "  - namespace: shop\n"
      "    name: web-0\n"
      "    uid: 5b7c0d3e-0000-4000-8000-00000000beef\n"
      "    labels: {app: web, tier: front}\n"
      "    containers:\n"
      "      - name: nginx\n"
      "        id: ctr-web\n"
      "        image: docker.io/library/nginx:1.25\n"
      "        cgroupPath: ",
      (*container)->relative_path(), "\n");
  // A policy event for the same processes: openat by this binary.
  std::ofstream(dir_ + "/policies/open.yaml") << testing::TestPolicyYaml(
      "pod-open", absl::StrCat("    selectors:\n    - matchBinaries:\n      - operator: In\n        values: [\"",
                               bin_, "\"]\n"));
  const std::string log = dir_ + "/daemon.log";
  testing::ChildProcess daemon({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                                "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                 "--policy-dir=" + dir_ + "/policies", "--workloads=" + dir_ + "/workloads.yaml",
                 "--node-name=pod-node", "--metrics-address="},
                log);
  auto channel = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20)))
      << testing::ReadFileOrEmpty(log);
  auto stub = tetragon::FineGuidanceSensors::NewStub(channel);
  {
    // --policy-dir loads in the background once the API serves: wait (a
    // bound, not an expectation) until its one policy is no longer loading.
    tetragon::ListTracingPoliciesResponse list;
    for (absl::Time end = absl::Now() + absl::Minutes(2); absl::Now() < end; absl::SleepFor(absl::Milliseconds(50))) {
      grpc::ClientContext ctx;
      list.Clear();
      ASSERT_TRUE(stub->ListTracingPolicies(&ctx, {}, &list).ok());
      if (list.policies_size() == 1 && list.policies(0).state() != tetragon::TP_STATE_LOADING) break;
    }
    ASSERT_EQ(list.policies_size(), 1) << testing::ReadFileOrEmpty(log);
    EXPECT_EQ(list.policies(0).state(), tetragon::TP_STATE_ENABLED) << list.DebugString();
  }

  grpc::ClientContext stream_ctx;
  tetragon::GetEventsRequest req;
  req.add_allow_list()->add_binary_regex(absl::StrCat(tag_, "-cat$"));
  auto stream = stub->GetEvents(&stream_ctx, req);
  absl::SleepFor(absl::Milliseconds(300));  // let the stream subscribe

  const std::string input = dir_ + "/input.txt";
  std::ofstream(input) << "";  // opened, nothing printed
  auto run_in = [&](testing::TestCgroup& cg) -> pid_t {
    auto pid = cg.Spawn({bin_, input});
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return -1;
    auto status = testing::WaitChild(*pid);
    EXPECT_TRUE(status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
    return *pid;
  };
  pid_t in_container = run_in(**container);
  pid_t in_sub = run_in(**sub);
  // Outside any pod: the test's own cgroup.
  pid_t outside = fork();
  if (outside == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl(bin_.c_str(), bin_.c_str(), input.c_str(), nullptr);
    _exit(127);
  }
  ASSERT_GT(outside, 0);
  int st = 0;
  ASSERT_EQ(waitpid(outside, &st, 0), outside);

  // Per pid: exec, exit, and the number of policy events seen.
  struct Seen {
    std::unique_ptr<tetragon::Process> exec, exit;
    int tracepoints = 0, tracepoints_with_pod = 0;
  };
  std::map<uint32_t, Seen> seen;
  auto done = [&] {
    for (pid_t p : {in_container, in_sub, outside}) {
      // Policy events come on their own ring buffer: wait for both kinds.
      if (!seen[p].exit || seen[p].tracepoints == 0) return false;
    }
    return true;
  };
  // The daemon is killed after a deadline so a missing event fails the test
  // instead of hanging it.
  std::thread watchdog;
  std::atomic<bool> finished{false};
  watchdog = std::thread([&] {
    for (int i = 0; i < 300 && !finished; ++i) absl::SleepFor(absl::Milliseconds(100));
    if (!finished) stream_ctx.TryCancel();
  });
  tetragon::GetEventsResponse ev;
  while (!done() && stream->Read(&ev)) {
    if (ev.has_process_exec()) {
      const auto& p = ev.process_exec().process();
      seen[p.pid().value()].exec = std::make_unique<tetragon::Process>(p);
    } else if (ev.has_process_exit()) {
      const auto& p = ev.process_exit().process();
      seen[p.pid().value()].exit = std::make_unique<tetragon::Process>(p);
    } else if (ev.has_process_tracepoint()) {
      const auto& p = ev.process_tracepoint().process();
      Seen& s = seen[p.pid().value()];
      ++s.tracepoints;
      if (p.has_pod()) {
        ++s.tracepoints_with_pod;
        ExpectWebPod(p, "process_tracepoint");
      }
    }
  }
  finished = true;
  watchdog.join();
  std::string summary;
  for (pid_t p : {in_container, in_sub, outside}) {
    absl::StrAppend(&summary, "pid ", p, ": exec ", seen[p].exec != nullptr, " exit ", seen[p].exit != nullptr,
                    " tracepoints ", seen[p].tracepoints, "\n");
  }
  ASSERT_TRUE(done()) << "events missing:\n" << summary << "daemon log:\n" << testing::ReadFileOrEmpty(log);

  for (pid_t p : {in_container, in_sub}) {
    const Seen& s = seen[p];
    ASSERT_TRUE(s.exec) << "no process_exec for pid " << p;
    ExpectWebPod(*s.exec, absl::StrCat("process_exec pid ", p));
    ExpectWebPod(*s.exit, absl::StrCat("process_exit pid ", p));
    EXPECT_GT(s.tracepoints, 0) << "pid " << p;
    EXPECT_EQ(s.tracepoints_with_pod, s.tracepoints) << "pid " << p;
  }
  const Seen& o = seen[outside];
  ASSERT_TRUE(o.exec);
  EXPECT_FALSE(o.exec->has_pod()) << o.exec->DebugString();
  EXPECT_FALSE(o.exit->has_pod()) << o.exit->DebugString();
  EXPECT_GT(o.tracepoints, 0);
  EXPECT_EQ(o.tracepoints_with_pod, 0);

  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  while (stream->Read(&ev)) {}
  int status = daemon.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::ReadFileOrEmpty(log);
}

}  // namespace
}  // namespace tgd
