// End-to-end test of the real `tgdispatch` binary: start `serve` on a unix
// socket with its own bpffs dir, drive it with the generated gRPC client as
// tetra would, stop it with SIGTERM and check it cleaned up.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "api/sensors.grpc.pb.h"
#include "gtest/gtest.h"
#include "sensor/base/version.h"
#include "sensor/loader/features.h"
#include "sensor/policymgr/recording_backend.h"
#include "sensor/testing/child_process.h"
#include "sensor/testing/connect_as.h"
#include "sensor/testing/policy_wait.h"

namespace tgd {
namespace {

constexpr char kBinary[] = "sensor/tgdispatch";




// One HTTP/1.1 GET to 127.0.0.1:port; the whole response.
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
    std::string req = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    send(fd, req.data(), req.size(), 0);
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  }
  close(fd);
  return out;
}

// GetHealth's details.
std::string HealthDetails(tetragon::FineGuidanceSensors::Stub* stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  tetragon::GetHealthStatusResponse resp;
  grpc::Status st = stub->GetHealth(&ctx, {}, &resp);
  if (!st.ok() || resp.health_status_size() != 1) return "GetHealth failed: " + st.error_message();
  return resp.health_status(0).details();
}

// Waits (up to 5 minutes: a bound, not an expectation) until GetHealth no
// longer says --policy-dir is loading; returns the last details.
std::string AwaitPolicyDirLoaded(tetragon::FineGuidanceSensors::Stub* stub) {
  std::string details;
  for (absl::Time end = absl::Now() + absl::Minutes(5); absl::Now() < end; absl::SleepFor(absl::Milliseconds(50))) {
    details = HealthDetails(stub);
    if (details.find("loading --policy-dir") == std::string::npos) break;
  }
  return details;
}

int RunToExit(const std::vector<std::string>& args, std::string* output) {
  std::string log = absl::StrCat(::testing::TempDir(), "/run-", getpid(), ".log");
  testing::ChildProcess c(args, log);
  int status = c.Wait();
  *output = testing::ReadFileOrEmpty(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ServeRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (bpffs state dir)";
    tag_ = absl::StrCat("tgd-serve-test-", getpid());
    // Unix socket paths are limited to 107 bytes: keep it short.
    socket_ = absl::StrCat("/tmp/", tag_, ".sock");
    bpf_dir_ = absl::StrCat("/sys/fs/bpf/", tag_);
    policy_dir_ = absl::StrCat(::testing::TempDir(), "/", tag_, "-policies");
    log_ = absl::StrCat(::testing::TempDir(), "/", tag_, ".log");
    std::filesystem::create_directories(policy_dir_);
    // A policy that loads but never matches: the event checks below see
    // only process events.
    std::ofstream(policy_dir_ + "/p.yaml") << testing::TestPolicyYaml(
        "from-dir", "    selectors:\n    - matchBinaries:\n      - operator: In\n        values: [\"/nonexistent\"]\n");
    // Two that fail: one does not parse, one parses but cannot load (its
    // tracepoint does not exist). Both are listed in TP_STATE_LOAD_ERROR.
    std::ofstream(policy_dir_ + "/broken.yaml") << "kind: [\n";
    std::ofstream(policy_dir_ + "/no-such-tp.yaml")
        << "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: no-such-tp\nspec:\n"
           "  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_nope\n";
  }
  void TearDown() override {
    // The daemon's own shutdown timing, for the record.
    std::string log = testing::ReadFileOrEmpty(log_);
    if (size_t at = log.find("stopped in "); at != std::string::npos) {
      std::cout << "daemon: " << log.substr(at, log.find('\n', at) - at) << "\n";
    }
    unlink(log_.c_str());
    std::filesystem::remove_all(policy_dir_);
    std::error_code ec;
    std::filesystem::remove_all(bpf_dir_, ec);  // pins a killed daemon left behind
    unlink(socket_.c_str());
  }

  std::string tag_, socket_, bpf_dir_, policy_dir_, log_;
};

TEST_F(ServeRootTest, ServesTheApiAndShutsDownCleanly) {
  const std::string export_file = absl::StrCat(::testing::TempDir(), "/", tag_, "-export/events.log");
  // The socket's mode is set, not left to the umask.
  const mode_t old_umask = umask(0);
  testing::ChildProcess daemon({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                                "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                "--policy-dir=" + policy_dir_, "--node-name=test-node", "--export-file=" + export_file,
                "--export-allowlist={\"binary_regex\":[\"" + tag_ + "-true$\"]}",
                "--metrics-address=127.0.0.1:0"},
               log_);
  umask(old_umask);
  auto channel = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20)))
      << testing::ReadFileOrEmpty(log_);
  auto stub = tetragon::FineGuidanceSensors::NewStub(channel);
  EXPECT_TRUE(std::filesystem::is_directory(bpf_dir_));
  struct stat sock_stat;
  ASSERT_EQ(lstat(socket_.c_str(), &sock_stat), 0);
  EXPECT_EQ(sock_stat.st_mode & 07777, 0600u) << "root only, whatever the umask";
  // The API may answer before the --policy-dir files are loaded: wait (with a
  // bound) until all three are listed in their final state.
  ASSERT_TRUE(testing::WaitForPoliciesSettled(stub.get(), 3, absl::Seconds(60))) << testing::ReadFileOrEmpty(log_);

  {
    grpc::ClientContext ctx;
    tetragon::GetVersionResponse resp;
    ASSERT_TRUE(stub->GetVersion(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.version(), kVersion);
  }
  {
    grpc::ClientContext ctx;
    tetragon::GetHealthStatusResponse resp;
    ASSERT_TRUE(stub->GetHealth(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.health_status_size(), 1);
    // The datapath is up (root): RUNNING, the loader named.
    EXPECT_EQ(resp.health_status(0).status(), tetragon::HEALTH_STATUS_RUNNING)
        << resp.health_status(0).details();
    // Then the hook kinds this kernel refused in the daemon's feature probe
    // (the same probe as this process's).
    std::string want = "running; 1 tracing policies loaded (loader dispatch)";
    if (std::vector<std::string> no = KernelFeatures::Get().Unavailable(); !no.empty()) {
      absl::StrAppend(&want, "; hook kinds this kernel cannot run: ", absl::StrJoin(no, "; "));
    }
    EXPECT_EQ(resp.health_status(0).details(), want);
  }
  {
    // The base process sensor is listed, attached, as Tetragon's "__base__";
    // then the sensor of the --policy-dir policy that loaded.
    grpc::ClientContext ctx;
    tetragon::ListSensorsResponse resp;
    ASSERT_TRUE(stub->ListSensors(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.sensors_size(), 2) << resp.DebugString();
    EXPECT_EQ(resp.sensors(0).name(), "__base__");
    EXPECT_TRUE(resp.sensors(0).enabled());
    EXPECT_EQ(resp.sensors(0).collection(), "__base__");
    EXPECT_EQ(resp.sensors(1).name(), "dispatch:tracepoint/syscalls/sys_enter_openat");
    EXPECT_EQ(resp.sensors(1).collection(), "from-dir");
  }
  {
    // The --policy-dir files that failed are listed in TP_STATE_LOAD_ERROR
    // with their errors (the unparsable one under its file name), and
    // deleting them by name removes them.
    grpc::ClientContext ctx;
    tetragon::ListTracingPoliciesResponse list;
    ASSERT_TRUE(stub->ListTracingPolicies(&ctx, {}, &list).ok());
    ASSERT_EQ(list.policies_size(), 3) << list.DebugString();
    std::map<std::string, tetragon::TracingPolicyStatus> by_name;
    for (const auto& p : list.policies()) by_name[p.name()] = p;
    ASSERT_EQ(by_name.count("broken"), 1u) << list.DebugString();
    EXPECT_EQ(by_name["broken"].state(), tetragon::TP_STATE_LOAD_ERROR);
    EXPECT_EQ(by_name["broken"].error().rfind(policy_dir_ + "/broken.yaml: ", 0), 0u)
        << by_name["broken"].error();
    ASSERT_EQ(by_name.count("no-such-tp"), 1u) << list.DebugString();
    EXPECT_EQ(by_name["no-such-tp"].state(), tetragon::TP_STATE_LOAD_ERROR);
    EXPECT_NE(by_name["no-such-tp"].error().find("sys_enter_nope"), std::string::npos)
        << by_name["no-such-tp"].error();
    EXPECT_EQ(by_name["from-dir"].state(), tetragon::TP_STATE_ENABLED);
    for (const char* name : {"broken", "no-such-tp"}) {
      grpc::ClientContext dctx;
      tetragon::DeleteTracingPolicyRequest dreq;
      tetragon::DeleteTracingPolicyResponse dresp;
      dreq.set_name(name);
      ASSERT_TRUE(stub->DeleteTracingPolicy(&dctx, dreq, &dresp).ok()) << name;
    }
    grpc::ClientContext ctx2;
    ASSERT_TRUE(stub->ListTracingPolicies(&ctx2, {}, &list).ok());
    ASSERT_EQ(list.policies_size(), 1);
    EXPECT_EQ(list.policies(0).name(), "from-dir");
  }
  {
    // The dispatch loader enforces a tracepoint policy: it is listed with
    // its kernel memory, and deleting it removes it; a malformed policy is
    // rejected with the field named and leaves nothing behind.
    grpc::ClientContext ctx;
    tetragon::AddTracingPolicyRequest req;
    tetragon::AddTracingPolicyResponse resp;
    req.set_yaml(testing::TestPolicyYaml("p1"));
    grpc::Status st = stub->AddTracingPolicy(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    grpc::ClientContext ctx2;
    req.set_yaml("kind: TracingPolicy\n");
    EXPECT_EQ(stub->AddTracingPolicy(&ctx2, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    grpc::ClientContext ctx3;
    tetragon::ListTracingPoliciesResponse list;
    ASSERT_TRUE(stub->ListTracingPolicies(&ctx3, {}, &list).ok());
    ASSERT_EQ(list.policies_size(), 2);  // p1 and "from-dir" from --policy-dir
    for (const auto& p : list.policies()) {
      EXPECT_TRUE(p.name() == "p1" || p.name() == "from-dir") << p.name();
      EXPECT_EQ(p.state(), tetragon::TP_STATE_ENABLED) << p.name();
      EXPECT_GT(p.kernel_memory_bytes(), 0u) << p.name();
    }
    grpc::ClientContext ctx4;
    tetragon::DeleteTracingPolicyRequest dreq;
    tetragon::DeleteTracingPolicyResponse dresp;
    dreq.set_name("p1");
    ASSERT_TRUE(stub->DeleteTracingPolicy(&ctx4, dreq, &dresp).ok());
    grpc::ClientContext ctx5;
    ASSERT_TRUE(stub->ListTracingPolicies(&ctx5, {}, &list).ok());
    ASSERT_EQ(list.policies_size(), 1);
    EXPECT_EQ(list.policies(0).name(), "from-dir");
  }
  // Real process events reach a filtered GetEvents stream: run a uniquely
  // named copy of `true` and expect exactly its exec and exit.
  grpc::ClientContext stream_ctx;
  tetragon::GetEventsRequest ereq;
  const std::string bin = absl::StrCat("/tmp/", tag_, "-true");
  std::filesystem::copy_file("/bin/true", bin, std::filesystem::copy_options::overwrite_existing);
  ereq.add_allow_list()->add_binary_regex(absl::StrCat(tag_, "-true$"));
  auto stream = stub->GetEvents(&stream_ctx, ereq);
  absl::SleepFor(absl::Milliseconds(300));  // let the stream subscribe
  std::string out;
  ASSERT_EQ(RunToExit({bin, "arg1"}, &out), 0);
  tetragon::GetEventsResponse got;
  ASSERT_TRUE(stream->Read(&got));
  ASSERT_TRUE(got.has_process_exec()) << got.DebugString();
  EXPECT_EQ(got.process_exec().process().binary(), bin);
  EXPECT_EQ(got.process_exec().process().arguments(), "arg1");
  EXPECT_EQ(got.node_name(), "test-node");
  ASSERT_TRUE(stream->Read(&got));
  ASSERT_TRUE(got.has_process_exit()) << got.DebugString();
  EXPECT_EQ(got.process_exit().status(), 0u);
  std::filesystem::remove(bin);
  // The same exec and exit are JSON lines in the export file (the allow list
  // keeps only this binary's events).
  std::vector<std::string> lines;
  for (int i = 0; i < 200 && lines.size() < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(25));
    lines = absl::StrSplit(testing::ReadFileOrEmpty(export_file), '\n', absl::SkipEmpty());
  }
  ASSERT_EQ(lines.size(), 2u) << testing::ReadFileOrEmpty(export_file);
  EXPECT_EQ(lines[0].rfind("{\"process_exec\":{\"process\":{\"exec_id\":\"", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(absl::StrCat("\"binary\":\"", bin, "\",\"arguments\":\"arg1\"")),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find("\"node_name\":\"test-node\",\"time\":\""), std::string::npos) << lines[0];
  EXPECT_EQ(lines[1].rfind("{\"process_exit\":{\"process\":{", 0), 0u) << lines[1];
  struct stat sb;
  ASSERT_EQ(stat(export_file.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  // Prometheus metrics on the port the log names.
  std::string log_now = testing::ReadFileOrEmpty(log_);
  size_t at = log_now.find("/metrics (port ");
  ASSERT_NE(at, std::string::npos) << log_now;
  int port = std::atoi(log_now.c_str() + at + strlen("/metrics (port "));
  std::string metrics = HttpGet(port, "/metrics");
  EXPECT_NE(metrics.find("HTTP/1.1 200 OK"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tgdispatch_events_total{type=\"PROCESS_EXEC\"} "), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tgdispatch_events_lost_total{source=\"ringbuf\"} "), std::string::npos);
  EXPECT_NE(metrics.find("tgdispatch_policies_loaded 1\n"), std::string::npos) << metrics;  // from-dir
  EXPECT_NE(metrics.find("tgdispatch_dispatcher_runs_total{hook=\"tracepoint/syscalls/sys_enter_openat\"} "),
            std::string::npos)
      << metrics;
  // The stream is still open when the daemon stops: SIGTERM ends it.
  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  tetragon::GetEventsResponse ev;
  while (stream->Read(&ev)) {}
  int status = daemon.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << testing::ReadFileOrEmpty(log_);
  EXPECT_EQ(WEXITSTATUS(status), 0) << testing::ReadFileOrEmpty(log_);
  std::string log = testing::ReadFileOrEmpty(log_);
  EXPECT_NE(log.find("from-dir"), std::string::npos) << log;  // --policy-dir was read
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(socket_));
  EXPECT_FALSE(std::filesystem::exists(bpf_dir_));
  std::filesystem::remove_all(std::filesystem::path(export_file).parent_path());
}

// With --keep-sensors-on-exit=false nothing survives a restart: the pins
// (this run's programs and maps in gen-1, the policy filter maps) exist while
// the daemon runs and are gone after SIGTERM; a --bpf-dir that existed before
// the start stays, empty. (The default keeps them: restart_root_test.)
TEST_F(ServeRootTest, ShutdownUnpinsEverythingAndKeepsAnExistingBpfDir) {
  ASSERT_TRUE(std::filesystem::create_directory(bpf_dir_));
  testing::ChildProcess daemon({kBinary, "serve", "--server-address=unix://" + socket_,
                                "--bpf-dir=" + bpf_dir_, "--process-events=false", "--metrics-address=",
                                "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false"},
                               log_);
  auto channel = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20)))
      << testing::ReadFileOrEmpty(log_);
  std::vector<std::string> pins;
  for (const auto& e : std::filesystem::directory_iterator(bpf_dir_)) pins.push_back(e.path().filename());
  std::sort(pins.begin(), pins.end());
  const std::vector<std::string> want = {"gen-1", "policy_filter_cgroup_maps", "policy_filter_maps",
                                         "tg_cgtracker_map"};
  EXPECT_EQ(pins, want) << testing::ReadFileOrEmpty(log_);
  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  int status = daemon.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << testing::ReadFileOrEmpty(log_);
  EXPECT_EQ(WEXITSTATUS(status), 0) << testing::ReadFileOrEmpty(log_);
  ASSERT_TRUE(std::filesystem::is_directory(bpf_dir_));
  EXPECT_TRUE(std::filesystem::is_empty(bpf_dir_)) << "pins left after shutdown";
}

// `tgdispatch features` prints the same probe results as this process finds.
TEST_F(ServeRootTest, FeaturesPrintsTheProbeTable) {
  std::string out;
  ASSERT_EQ(RunToExit({kBinary, "features"}, &out), 0) << out;
  EXPECT_NE(out.find(KernelFeatures::Get().FormatTable()), std::string::npos) << out;
  ASSERT_EQ(RunToExit({kBinary, "features", "--json"}, &out), 0) << out;
  EXPECT_NE(out.find(KernelFeatures::Get().FormatJson()), std::string::npos) << out;
}

// The API answers before --policy-dir has loaded, whatever its size: the
// first GetHealth after the socket accepts says how far loading got (300
// policies take seconds: each add waits for RCU grace periods), List lists
// what is loaded so far, and both keep answering until all are loaded.
// Then SIGTERM: the shutdown time is printed (bench/ has the figures).
TEST_F(ServeRootTest, PolicyDirLoadsInTheBackgroundWhileTheApiAnswers) {
  constexpr int kPolicies = 300;
  std::filesystem::remove_all(policy_dir_);
  std::filesystem::create_directories(policy_dir_);
  // Spread over five hooks: at most 64 policies apply to one workload on
  // one hook.
  const char* kEvents[] = {"sys_enter_openat", "sys_enter_getpid", "sys_enter_close", "sys_enter_read",
                           "sys_enter_write"};
  for (int i = 0; i < kPolicies; ++i) {
    std::ofstream(absl::StrCat(policy_dir_, "/p", 1000 + i, ".yaml"))
        << "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bg-" << i
        << "\nspec:\n  tracepoints:\n  - subsystem: syscalls\n    event: " << kEvents[i % 5]
        << "\n    selectors:\n    - matchBinaries:\n      - operator: In\n        values: [\"/nonexistent\"]\n";
  }
  testing::ChildProcess daemon({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                                "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                                "--policy-dir=" + policy_dir_, "--process-events=false", "--metrics-address="},
                               log_);
  auto channel = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20)))
      << testing::ReadFileOrEmpty(log_);
  auto stub = tetragon::FineGuidanceSensors::NewStub(channel);
  std::string first = HealthDetails(stub.get());
  const std::string prefix = "running; loading --policy-dir: ";
  ASSERT_EQ(first.rfind(prefix, 0), 0u) << first;
  int done = std::atoi(first.c_str() + prefix.size());
  EXPECT_LT(done, kPolicies) << first;
  EXPECT_NE(first.find(absl::StrCat(" of ", kPolicies, " files; ")), std::string::npos) << first;
  {
    grpc::ClientContext ctx;
    tetragon::ListTracingPoliciesResponse list;
    ASSERT_TRUE(stub->ListTracingPolicies(&ctx, {}, &list).ok());
    EXPECT_LT(list.policies_size(), kPolicies);
  }
  std::string last = AwaitPolicyDirLoaded(stub.get());
  // Loaded: no progress part any more (what follows lists hook kinds this
  // kernel cannot run, if any).
  EXPECT_TRUE(absl::StartsWith(last, absl::StrCat("running; ", kPolicies, " tracing policies loaded (loader dispatch)")))
      << last;
  {
    grpc::ClientContext ctx;
    tetragon::ListTracingPoliciesResponse list;
    ASSERT_TRUE(stub->ListTracingPolicies(&ctx, {}, &list).ok());
    EXPECT_EQ(list.policies_size(), kPolicies);
    for (const auto& p : list.policies()) EXPECT_EQ(p.state(), tetragon::TP_STATE_ENABLED) << p.name();
  }
  absl::Time stop = absl::Now();
  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  int status = daemon.Wait();
  std::cout << "shutdown with " << kPolicies << " policies: " << absl::FormatDuration(absl::Now() - stop) << "\n";
  ASSERT_TRUE(WIFEXITED(status)) << testing::ReadFileOrEmpty(log_);
  EXPECT_EQ(WEXITSTATUS(status), 0) << testing::ReadFileOrEmpty(log_);
}

// A field of /proc/PID/status in kB ("VmHWM", "VmRSS"), or -1.
int64_t ProcStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  }
  return -1;
}

// 32 concurrent AddTracingPolicy requests of hostile 1 MiB YAML (nested "[",
// nested "{a: ", many scalars, many aliases, an alias bomb, a 1 MiB name)
// are each refused with INVALID_ARGUMENT, the API keeps answering, and the
// daemon's peak RSS grows by less than 200 MB (it grew by ~250 MB for ONE
// nested-"[" request before the parser's shape limits). The figure is
// printed.
TEST_F(ServeRootTest, HostileConcurrentPolicyRequestsAreRefusedWithBoundedMemory) {
  testing::ChildProcess daemon({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                                "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                                "--process-events=false", "--metrics-address="},
                               log_);
  auto channel = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20)))
      << testing::ReadFileOrEmpty(log_);
  auto stub = tetragon::FineGuidanceSensors::NewStub(channel);
  ASSERT_EQ(HealthDetails(stub.get()).rfind("running; ", 0), 0u);
  constexpr size_t kSize = (1 << 20) - 64;
  auto fill = [&](const std::string& head, const std::string& unit, const std::string& tail) {
    std::string out = head;
    while (out.size() + unit.size() + tail.size() < kSize) out += unit;
    return out + tail;
  };
  std::string bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    bomb += absl::StrCat(std::string(1, c), ": &", std::string(1, c), " [");
    for (int i = 0; i < 9; ++i) bomb += absl::StrCat(i ? "," : "", "*", std::string(1, c - 1));
    bomb += "]\n";
  }
  const std::vector<std::string> shapes = {
      fill("", "[", ""),
      fill("", "{a: ", ""),
      fill("a: [", "1,", "1]"),
      fill("a: [&x 1, ", "*x, ", "1]"),
      bomb,
      fill("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ", "n", "\nspec: {}\n"),
  };
  const int64_t hwm_before = ProcStatusKb(daemon.pid(), "VmHWM");
  ASSERT_GT(hwm_before, 0);
  constexpr int kClients = 32;
  std::vector<grpc::Status> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(2));
      tetragon::AddTracingPolicyRequest req;
      req.set_yaml(shapes[i % shapes.size()]);
      tetragon::AddTracingPolicyResponse resp;
      results[i] = stub->AddTracingPolicy(&ctx, req, &resp);
    });
  }
  for (auto& t : clients) t.join();
  const int64_t hwm_after = ProcStatusKb(daemon.pid(), "VmHWM");
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(results[i].error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << "shape " << i % shapes.size() << ": " << results[i].error_message();
    EXPECT_LT(results[i].error_message().size(), 2048u) << "shape " << i % shapes.size();
  }
  std::cout << "daemon peak RSS: " << hwm_before / 1024 << " MB before, " << hwm_after / 1024 << " MB after "
            << kClients << " concurrent hostile 1 MiB requests (+" << (hwm_after - hwm_before) / 1024 << " MB)\n";
  EXPECT_LT(hwm_after - hwm_before, 200 * 1024) << "kB";
  const std::string after = HealthDetails(stub.get());
  EXPECT_TRUE(absl::StartsWith(after, "running; 0 tracing policies loaded (loader dispatch)")) << after;
  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  int status = daemon.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << testing::ReadFileOrEmpty(log_);
  EXPECT_EQ(WEXITSTATUS(status), 0) << testing::ReadFileOrEmpty(log_);
}

TEST_F(ServeRootTest, BadInvocationsFailWithAReason) {
  std::string out;
  EXPECT_EQ(RunToExit({kBinary, "version"}, &out), 0);
  EXPECT_NE(out.find(kVersion), std::string::npos);
  EXPECT_EQ(RunToExit({kBinary, "serve", "--server-address=0.0.0.0:54399", "--bpf-dir=" + bpf_dir_}, &out), 1);
  EXPECT_NE(out.find("--allow-remote"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(bpf_dir_));
  EXPECT_EQ(RunToExit({kBinary, "frobnicate"}, &out), 2);
  EXPECT_NE(out.find("unknown command \"frobnicate\""), std::string::npos) << out;
  EXPECT_EQ(RunToExit({kBinary, "serve", "--log-level=loud"}, &out), 2);
  EXPECT_NE(out.find("--log-level"), std::string::npos) << out;
  EXPECT_EQ(RunToExit({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                       "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                       "--export-file=/tmp/x.log", "--export-denylist={\"binary_regex\":[\"(\"]}"},
                      &out),
            1);
  EXPECT_NE(out.find("--export-allowlist/--export-denylist: deny_list[0].binary_regex"), std::string::npos)
      << out;
  EXPECT_EQ(RunToExit({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                       "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                       "--metrics-address=0.0.0.0:2113"},
                      &out),
            1);
  EXPECT_NE(out.find("--metrics-address"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(bpf_dir_));
}

// Root drives the API over loopback TCP as tetra does against the default
// address: its policy RPCs are authorized by the owner of its socket. A
// client whose socket `nobody` opened only reads.
TEST_F(ServeRootTest, OnlyRootDrivesTheApiOverLoopbackTcp) {
  int port = 0;
  {
    // A free port: bound, read, released.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), len), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
  }
  const std::string address = absl::StrCat("localhost:", port);
  testing::ChildProcess daemon({kBinary, "serve", "--server-address=" + address, "--bpf-dir=" + bpf_dir_,
                                "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                                "--process-events=false", "--metrics-address="},
                               log_);
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20)))
      << testing::ReadFileOrEmpty(log_);
  auto stub = tetragon::FineGuidanceSensors::NewStub(channel);
  {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = testing::ConnectAs(65534, 65534, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    ASSERT_GE(fd, 0);
    auto nobody = tetragon::FineGuidanceSensors::NewStub(grpc::CreateInsecureChannelFromFd("api", fd));
    grpc::ClientContext hctx;
    tetragon::GetHealthStatusResponse health;
    EXPECT_TRUE(nobody->GetHealth(&hctx, {}, &health).ok());
    grpc::ClientContext actx;
    tetragon::AddTracingPolicyRequest req;
    req.set_yaml(testing::TestPolicyYaml(tag_ + "-nobody"));
    tetragon::AddTracingPolicyResponse resp;
    grpc::Status st = nobody->AddTracingPolicy(&actx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    grpc::ClientContext ectx;
    auto events = nobody->GetEvents(&ectx, {});
    tetragon::GetEventsResponse ev;
    EXPECT_FALSE(events->Read(&ev));
    EXPECT_EQ(events->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    tetragon::AddTracingPolicyRequest req;
    req.set_yaml(testing::TestPolicyYaml(
        tag_, "    selectors:\n    - matchBinaries:\n      - operator: In\n        values: [\"/nonexistent\"]\n"));
    tetragon::AddTracingPolicyResponse resp;
    grpc::Status st = stub->AddTracingPolicy(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message() << testing::ReadFileOrEmpty(log_);
  }
  {
    grpc::ClientContext ctx;
    tetragon::DeleteTracingPolicyRequest req;
    req.set_name(tag_);
    tetragon::DeleteTracingPolicyResponse resp;
    grpc::Status st = stub->DeleteTracingPolicy(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
  }
  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  int status = daemon.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::ReadFileOrEmpty(log_);
}

// Files at the paths it is given that are not its own are never removed,
// followed or made more open.
TEST_F(ServeRootTest, LeavesOtherFilesAlone) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/", tag_, "-files");
  std::filesystem::create_directories(dir);
  const std::string victim = dir + "/victim";
  std::ofstream(victim) << "secret";
  chmod(victim.c_str(), 0600);
  auto expect_untouched = [&](const std::string& path) {
    EXPECT_EQ(testing::ReadFileOrEmpty(path), "secret");
    struct stat sb;
    ASSERT_EQ(lstat(path.c_str(), &sb), 0);
    EXPECT_TRUE(S_ISREG(sb.st_mode));
    EXPECT_EQ(sb.st_mode & 07777, 0600u);
  };
  std::string out;
  // A regular file at the socket path: the start fails and leaves it.
  std::ofstream(socket_) << "secret";
  chmod(socket_.c_str(), 0600);
  EXPECT_EQ(RunToExit({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                       "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                       "--process-events=false", "--metrics-address="},
                      &out),
            1);
  EXPECT_NE(out.find("not a socket"), std::string::npos) << out;
  expect_untouched(socket_);
  unlink(socket_.c_str());
  // An export file that is a symlink: refused, its target untouched.
  const std::string link = dir + "/events.log";
  ASSERT_EQ(symlink(victim.c_str(), link.c_str()), 0);
  EXPECT_EQ(RunToExit({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                       "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                       "--process-events=false", "--metrics-address=", "--export-file=" + link,
                       "--export-file-perm=640"},
                      &out),
            1);
  EXPECT_NE(out.find("symlink"), std::string::npos) << out;
  expect_untouched(victim);
  // An export file mode more open than 0640: refused before anything opens.
  EXPECT_EQ(RunToExit({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                       "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                       "--process-events=false", "--metrics-address=", "--export-file=" + dir + "/e.log",
                       "--export-file-perm=644"},
                      &out),
            1);
  EXPECT_NE(out.find("--export-file-perm \"644\": more open than 0640"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir + "/e.log"));
  EXPECT_FALSE(std::filesystem::exists(bpf_dir_));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tgd
