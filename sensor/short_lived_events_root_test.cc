// Issue 13's end-to-end check of the event cache, through the real binary:
// short-lived processes (a shell that runs one command and exits, the
// command exiting right after the hooked call) under a tracepoint policy,
// while a fork/exec storm runs. Every policy event and every exit of those
// processes must carry `process` and `parent` with the right exec ids, in
// the gRPC GetEvents stream and in the JSON export file.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "api/sensors.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "sensor/testing/child_process.h"

namespace tgd {
namespace {

constexpr char kBinary[] = "sensor/tgdispatch";
constexpr int kShells = 60;

// What the events of one test shell (pid) say.
struct Seen {
  std::string sh_exec_id;                  // its exec event
  std::map<uint32_t, std::string> cmd_exec;  // the command's pid -> exec id (exec events)
  std::vector<tetragon::GetEventsResponse> policy, exits;  // of the command
};

// Reads a stream on a thread of its own, so the test can wait with a bound.
class StreamReader {
 public:
  explicit StreamReader(std::unique_ptr<grpc::ClientReader<tetragon::GetEventsResponse>> s)
      : stream_(std::move(s)), thread_([this] { Run(); }) {}
  ~StreamReader() { thread_.join(); }  // the daemon's SIGTERM ends the stream
  // Waits up to `timeout` for the next event.
  bool Next(tetragon::GetEventsResponse* out, absl::Duration timeout) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, absl::ToChronoMilliseconds(timeout), [this] { return !q_.empty() || done_; });
    if (q_.empty()) return false;
    *out = std::move(q_.front());
    q_.pop_front();
    return true;
  }

 private:
  void Run() {
    tetragon::GetEventsResponse ev;
    while (stream_->Read(&ev)) {
      std::lock_guard<std::mutex> l(mu_);
      q_.push_back(ev);
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    cv_.notify_all();
  }
  std::unique_ptr<grpc::ClientReader<tetragon::GetEventsResponse>> stream_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<tetragon::GetEventsResponse> q_;
  bool done_ = false;
  std::thread thread_;
};

// Param: with Tetragon's --enable-ancestors=base,tracepoint (the events then
// also carry the whole chain of ancestors up to pid <= 2).
class ShortLivedEventsRootTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF, bpffs)";
    if (!std::filesystem::exists("/sys/kernel/tracing/events/syscalls/sys_enter_newuname/format") &&
        !std::filesystem::exists("/sys/kernel/debug/tracing/events/syscalls/sys_enter_newuname/format")) {
      GTEST_SKIP() << "no syscalls/sys_enter_newuname tracepoint in tracefs";
    }
    tag_ = absl::StrCat("tgd-short-", getpid());
    socket_ = absl::StrCat("/tmp/", tag_, ".sock");
    bpf_dir_ = absl::StrCat("/sys/fs/bpf/", tag_);
    dir_ = absl::StrCat(::testing::TempDir(), "/", tag_);
    std::filesystem::create_directories(dir_ + "/policies");
    sh_ = absl::StrCat("/tmp/", tag_, "-sh");
    cmd_ = absl::StrCat("/tmp/", tag_, "-uname");
    std::filesystem::copy_file("/bin/sh", sh_, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file("/bin/uname", cmd_, std::filesystem::copy_options::overwrite_existing);
    std::ofstream(dir_ + "/policies/uname.yaml")
        << "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: short-lived-uname\n"
           "spec:\n  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_newuname\n"
           "    selectors:\n    - matchBinaries:\n      - operator: In\n        values: [\""
        << cmd_ << "\"]\n";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove_all(bpf_dir_, ec);
    std::filesystem::remove(sh_, ec);
    std::filesystem::remove(cmd_, ec);
    unlink(socket_.c_str());
  }

  // Files one event under the test shell it belongs to.
  void Note(const tetragon::GetEventsResponse& ev, const std::set<uint32_t>& shells,
            std::map<uint32_t, Seen>* seen) {
    if (ev.has_process_exec()) {
      const tetragon::Process& p = ev.process_exec().process();
      if (p.binary() == sh_ && shells.count(p.pid().value())) {
        (*seen)[p.pid().value()].sh_exec_id = p.exec_id();
      } else if (p.binary() == cmd_ && ev.process_exec().has_parent()) {
        uint32_t sh = ev.process_exec().parent().pid().value();
        if (shells.count(sh)) (*seen)[sh].cmd_exec[p.pid().value()] = p.exec_id();
      }
      return;
    }
    const tetragon::Process* p = nullptr;
    const tetragon::Process* parent = nullptr;
    bool policy = false;
    if (ev.has_process_tracepoint()) {
      p = &ev.process_tracepoint().process();
      if (ev.process_tracepoint().has_parent()) parent = &ev.process_tracepoint().parent();
      policy = true;
    } else if (ev.has_process_exit()) {
      p = &ev.process_exit().process();
      if (ev.process_exit().has_parent()) parent = &ev.process_exit().parent();
    } else {
      return;
    }
    if (p->binary() != cmd_) return;
    // Filed by the parent's pid when known; a missing parent is filed
    // under 0 and fails the checks.
    uint32_t sh = parent != nullptr ? parent->pid().value() : 0;
    if (sh != 0 && !shells.count(sh)) return;  // not one of ours
    (policy ? (*seen)[sh].policy : (*seen)[sh].exits).push_back(ev);
  }

  static bool Done(const std::set<uint32_t>& shells, const std::map<uint32_t, Seen>& seen) {
    for (uint32_t sh : shells) {
      auto it = seen.find(sh);
      if (it == seen.end() || it->second.sh_exec_id.empty() || it->second.cmd_exec.size() != 1 ||
          it->second.policy.empty() || it->second.exits.size() != 1) {
        return false;
      }
    }
    return true;
  }

  // Every policy event and exit: process and parent, with the exec ids of
  // the command's and the shell's exec events.
  void Check(const std::string& where, const std::set<uint32_t>& shells, const std::map<uint32_t, Seen>& seen) {
    if (auto orphan = seen.find(0); orphan != seen.end()) {
      ADD_FAILURE() << where << ": " << orphan->second.policy.size() << " policy and "
                    << orphan->second.exits.size() << " exit events without a parent, e.g. "
                    << (orphan->second.policy.empty() ? orphan->second.exits : orphan->second.policy)[0].DebugString();
    }
    for (uint32_t sh : shells) {
      auto it = seen.find(sh);
      ASSERT_NE(it, seen.end()) << where << ": nothing for shell " << sh;
      const Seen& s = it->second;
      ASSERT_FALSE(s.sh_exec_id.empty()) << where << ": no exec event of shell " << sh;
      ASSERT_EQ(s.cmd_exec.size(), 1u) << where << ": shell " << sh;
      const uint32_t cmd_pid = s.cmd_exec.begin()->first;
      const std::string& cmd_id = s.cmd_exec.begin()->second;
      EXPECT_FALSE(s.policy.empty()) << where << ": no policy event of shell " << sh << "'s command";
      EXPECT_EQ(s.exits.size(), 1u) << where << ": exits of shell " << sh << "'s command";
      auto check_ancestors = [&](const tetragon::Process& parent,
                                 const google::protobuf::RepeatedPtrField<tetragon::Process>& anc,
                                 const std::string& what) {
        if (!GetParam()) {
          EXPECT_TRUE(anc.empty()) << where << " " << what;
          return;
        }
        ASSERT_FALSE(anc.empty()) << where << " " << what;
        EXPECT_EQ(anc[0].exec_id(), parent.parent_exec_id()) << where << " " << what;
        for (int i = 1; i < anc.size(); ++i) {
          EXPECT_EQ(anc[i].exec_id(), anc[i - 1].parent_exec_id()) << where << " " << what << " ancestor " << i;
        }
        EXPECT_LE(anc[anc.size() - 1].pid().value(), 2u) << where << " " << what;
      };
      auto check = [&](const tetragon::Process& p, const tetragon::Process& parent, const std::string& what) {
        EXPECT_EQ(p.pid().value(), cmd_pid) << where << " " << what;
        EXPECT_EQ(p.exec_id(), cmd_id) << where << " " << what;
        EXPECT_EQ(p.parent_exec_id(), s.sh_exec_id) << where << " " << what;
        EXPECT_EQ(parent.exec_id(), s.sh_exec_id) << where << " " << what;
        EXPECT_EQ(parent.pid().value(), sh) << where << " " << what;
        EXPECT_EQ(parent.binary(), sh_) << where << " " << what;
      };
      for (const auto& ev : s.policy) {
        check(ev.process_tracepoint().process(), ev.process_tracepoint().parent(), "process_tracepoint");
        EXPECT_EQ(ev.process_tracepoint().policy_name(), "short-lived-uname");
        EXPECT_EQ(ev.process_tracepoint().subsys(), "syscalls");
        EXPECT_EQ(ev.process_tracepoint().event(), "sys_enter_newuname");
        check_ancestors(ev.process_tracepoint().parent(), ev.process_tracepoint().ancestors(), "process_tracepoint");
      }
      for (const auto& ev : s.exits) {
        check(ev.process_exit().process(), ev.process_exit().parent(), "process_exit");
        check_ancestors(ev.process_exit().parent(), ev.process_exit().ancestors(), "process_exit");
      }
    }
  }

  std::string tag_, socket_, bpf_dir_, dir_, sh_, cmd_;
};

TEST_P(ShortLivedEventsRootTest, EveryPolicyAndExitEventHasProcessAndParent) {
  const std::string export_file = dir_ + "/export/events.log";
  const std::string allow = absl::StrCat("{\"binary_regex\":[\"", tag_, "-(sh|uname)$\"]}");
  testing::ChildProcess daemon({kBinary, "serve", "--server-address=unix://" + socket_, "--bpf-dir=" + bpf_dir_,
                                "--state-dir=" + testing::TestStateDir(), "--keep-sensors-on-exit=false",
                                "--policy-dir=" + dir_ + "/policies", "--node-name=short-node",
                                "--export-file=" + export_file, "--export-allowlist=" + allow,
                                "--metrics-address=",
                                GetParam() ? "--enable-ancestors=base,tracepoint" : "--enable-ancestors="},
                               dir_ + "/daemon.log");
  auto channel = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)))
      << testing::ReadFileOrEmpty(dir_ + "/daemon.log");
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
    ASSERT_EQ(list.policies_size(), 1) << testing::ReadFileOrEmpty(dir_ + "/daemon.log");
    ASSERT_EQ(list.policies(0).state(), tetragon::TP_STATE_ENABLED) << list.policies(0).error();
  }
  grpc::ClientContext stream_ctx;
  tetragon::GetEventsRequest req;
  req.add_allow_list()->add_binary_regex(absl::StrCat(tag_, "-(sh|uname)$"));
  StreamReader reader(stub->GetEvents(&stream_ctx, req));

  // The stream is subscribed once a probe's event comes through it.
  std::set<uint32_t> shells;
  std::map<uint32_t, Seen> seen;
  {
    bool subscribed = false;
    for (int i = 0; i < 50 && !subscribed; ++i) {
      testing::ChildProcess probe({sh_, "-c", ":"}, "/dev/null");
      probe.Wait();
      tetragon::GetEventsResponse ev;
      while (reader.Next(&ev, absl::Milliseconds(200))) subscribed = true;
    }
    ASSERT_TRUE(subscribed) << "no event reached the stream";
  }

  // The storm: a shell loop forking and exec'ing /bin/true, two of them.
  std::vector<std::unique_ptr<testing::ChildProcess>> storm;
  for (int i = 0; i < 2; ++i) {
    storm.push_back(std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c", "while :; do /bin/true; done"}, "/dev/null"));
  }
  // The short-lived shells, ten at a time: each runs the command (which
  // makes the hooked call, prints and exits) and exits at once.
  for (int batch = 0; batch < kShells / 10; ++batch) {
    std::vector<std::unique_ptr<testing::ChildProcess>> running;
    for (int i = 0; i < 10; ++i) {
      running.push_back(std::make_unique<testing::ChildProcess>(
          std::vector<std::string>{sh_, "-c", cmd_ + " -s; :"}, "/dev/null"));
      shells.insert(running.back()->pid());
    }
    for (auto& c : running) EXPECT_EQ(c->Wait(), 0);
  }
  storm.clear();  // SIGKILL the loops

  // Every event of known pids, bounded: the event cache holds an event at
  // most retries x delay (30 s); give it that and some.
  const absl::Time deadline = absl::Now() + absl::Seconds(45);
  tetragon::GetEventsResponse ev;
  while (!Done(shells, seen) && absl::Now() < deadline) {
    if (reader.Next(&ev, absl::Milliseconds(200))) Note(ev, shells, &seen);
  }
  Check("GetEvents", shells, seen);

  // The export file has the same events (JSON lines).
  std::map<uint32_t, Seen> exported;
  while (absl::Now() < deadline) {
    exported.clear();
    for (absl::string_view line :
         absl::StrSplit(testing::ReadFileOrEmpty(export_file), '\n', absl::SkipEmpty())) {
      tetragon::GetEventsResponse e;
      google::protobuf::util::JsonParseOptions opts;
      opts.ignore_unknown_fields = true;
      auto st = google::protobuf::util::JsonStringToMessage(std::string(line), &e, opts);
      ASSERT_TRUE(st.ok()) << st << "\n" << line;
      Note(e, shells, &exported);
    }
    if (Done(shells, exported)) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  Check("export file", shells, exported);

  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  int status = daemon.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::ReadFileOrEmpty(dir_ + "/daemon.log");
}

INSTANTIATE_TEST_SUITE_P(Ancestors, ShortLivedEventsRootTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "WithAncestors" : "Plain"; });

}  // namespace
}  // namespace tgd
