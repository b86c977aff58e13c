// Root test of the base process sensor on real processes: a shell running a
// binary with arguments in its own cgroup, and the exact process_exec and
// process_exit events for both, including parent linkage and exit status or
// signal; a process the /proc walk and the ring both see.
#include "sensor/process/process_sensor.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

class ProcessSensorRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string reason = testing::RootTestSkipReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    sub_ = bus_.Subscribe(1 << 16);
    auto s = ProcessSensor::Start({&bus_, &cache_, true, nullptr});
    ASSERT_TRUE(s.ok()) << s.status();
    sensor_ = *std::move(s);
    auto cg = testing::TestCgroup::Create("procsensor");
    ASSERT_TRUE(cg.ok()) << cg.status();
    cgroup_ = *std::move(cg);
  }

  EventBus bus_;
  ProcessCache cache_{"test-node", 65536, MonotonicToWallOffsetNs()};
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<ProcessSensor> sensor_;
  std::unique_ptr<testing::TestCgroup> cgroup_;
};

TEST_F(ProcessSensorRootTest, ShellRunningABinaryGivesExactEvents) {
  const std::string sh = std::filesystem::canonical("/bin/sh");
  const std::string sleep_bin = std::filesystem::canonical("/bin/sleep");
  auto pid = cgroup_->SpawnFn([] {
    if (chdir("/tmp") != 0) return 90;
    execl("/bin/sh", "/bin/sh", "-c", "/bin/sleep 0.05; exit 3", (char*)nullptr);
    return 91;
  });
  ASSERT_TRUE(pid.ok());
  const uint32_t sh_pid = *pid;
  auto status = testing::WaitChild(*pid);
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(WIFEXITED(*status));
  ASSERT_EQ(WEXITSTATUS(*status), 3);

  // exec sh, exec sleep, exit sleep, exit sh.
  std::vector<tetragon::GetEventsResponse> execs, exits;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  EventBus::Event ev;
  uint32_t sleep_pid = 0;
  while ((execs.size() < 2 || exits.size() < 2) && sub_->Next(&ev, deadline)) {
    if (ev->has_process_exec()) {
      const auto& p = ev->process_exec().process();
      if (p.pid().value() == sh_pid || (ev->process_exec().parent().pid().value() == sh_pid)) {
        if (p.pid().value() != sh_pid) sleep_pid = p.pid().value();
        execs.push_back(*ev);
      }
    } else if (ev->has_process_exit()) {
      uint32_t p = ev->process_exit().process().pid().value();
      if (p == sh_pid || (sleep_pid != 0 && p == sleep_pid)) exits.push_back(*ev);
    }
  }
  ASSERT_EQ(execs.size(), 2u);
  ASSERT_EQ(exits.size(), 2u);

  const auto& e_sh = execs[0].process_exec();
  EXPECT_EQ(e_sh.process().pid().value(), sh_pid);
  EXPECT_EQ(e_sh.process().binary(), sh);
  EXPECT_EQ(e_sh.process().arguments(), "-c /bin/sleep 0.05; exit 3");
  EXPECT_EQ(e_sh.process().cwd(), "/tmp");
  EXPECT_EQ(e_sh.process().uid().value(), geteuid());
  EXPECT_EQ(e_sh.process().flags(), "execve clone");
  // The parent is this test process (known from the /proc walk).
  EXPECT_EQ(e_sh.parent().pid().value(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(e_sh.process().parent_exec_id(), e_sh.parent().exec_id());
  EXPECT_FALSE(e_sh.parent().exec_id().empty());
  EXPECT_EQ(execs[0].node_name(), "test-node");

  const auto& e_sleep = execs[1].process_exec();
  EXPECT_EQ(e_sleep.process().binary(), sleep_bin);
  EXPECT_EQ(e_sleep.process().arguments(), "0.05");
  EXPECT_EQ(e_sleep.process().cwd(), "/tmp");
  EXPECT_EQ(e_sleep.parent().exec_id(), e_sh.process().exec_id());
  EXPECT_EQ(e_sleep.process().parent_exec_id(), e_sh.process().exec_id());

  const auto& x_sleep = exits[0].process_exit();
  EXPECT_EQ(x_sleep.process().exec_id(), e_sleep.process().exec_id());
  EXPECT_EQ(x_sleep.status(), 0u);
  EXPECT_TRUE(x_sleep.signal().empty());
  EXPECT_EQ(x_sleep.parent().exec_id(), e_sh.process().exec_id());
  const auto& x_sh = exits[1].process_exit();
  EXPECT_EQ(x_sh.process().exec_id(), e_sh.process().exec_id());
  EXPECT_EQ(x_sh.status(), 3u);
  EXPECT_GE(exits[1].time().seconds(), execs[0].time().seconds());
}

// in_init_tree from the kernel's pid namespaces: `unshare --pid --fork`
// forks a child that is pid 1 of a new pid namespace (a container's first
// process); it and what it starts are in the init tree, unshare is not.
TEST_F(ProcessSensorRootTest, InInitTreeFromANewPidNamespace) {
  if (!std::filesystem::exists("/usr/bin/unshare")) GTEST_SKIP() << "no /usr/bin/unshare";
  auto pid = cgroup_->SpawnFn([] {
    execl("/usr/bin/unshare", "/usr/bin/unshare", "--pid", "--fork", "/bin/sh", "-c", "/bin/true; exit 0",
          (char*)nullptr);
    return 91;
  });
  ASSERT_TRUE(pid.ok());
  const uint32_t unshare_pid = *pid;
  auto status = testing::WaitChild(*pid);
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  const std::string sh = std::filesystem::canonical("/bin/sh");
  const std::string true_bin = std::filesystem::canonical("/bin/true");
  std::map<std::string, tetragon::Process> by_binary;  // execs of unshare, its sh, and true
  uint32_t sh_pid = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  EventBus::Event ev;
  while (by_binary.size() < 3 && sub_->Next(&ev, deadline)) {
    if (!ev->has_process_exec()) continue;
    const auto& p = ev->process_exec().process();
    const uint32_t parent = ev->process_exec().parent().pid().value();
    if (p.pid().value() == unshare_pid && p.binary() == "/usr/bin/unshare") by_binary["unshare"] = p;
    if (parent == unshare_pid && p.binary() == sh) {
      by_binary["sh"] = p;
      sh_pid = p.pid().value();
    }
    if (sh_pid != 0 && parent == sh_pid && p.binary() == true_bin) by_binary["true"] = p;
  }
  ASSERT_EQ(by_binary.size(), 3u);
  ASSERT_TRUE(by_binary["unshare"].has_in_init_tree());
  EXPECT_FALSE(by_binary["unshare"].in_init_tree().value());
  EXPECT_TRUE(by_binary["sh"].in_init_tree().value());    // pid 1 of its pid namespace
  EXPECT_TRUE(by_binary["true"].in_init_tree().value());  // forked by it
}

// A process that forks and execs after the programs attach but before the
// /proc walk is seen by both: one process_exec event, and the cache, the
// event and the exit agree on one exec id.
TEST(ProcessSensorStartRootTest, ExecBetweenAttachAndWalkIsSeenOnce) {
  std::string reason = testing::RootTestSkipReason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  auto cg = testing::TestCgroup::Create("procsensor-start");
  ASSERT_TRUE(cg.ok()) << cg.status();
  EventBus bus;
  ProcessCache cache("test-node", 65536, MonotonicToWallOffsetNs());
  auto sub = bus.Subscribe(1 << 16);
  const std::string sleep_bin = std::filesystem::canonical("/bin/sleep");
  pid_t child = -1;
  ProcessSensorOptions o{&bus, &cache, true, nullptr};
  o.after_attach = [&] {
    auto pid = (*cg)->Spawn({"/bin/sleep", "30"});
    if (!pid.ok()) return;
    child = *pid;
    // Until it has exec'd: the walk then reads the new image.
    std::string exe = absl::StrCat("/proc/", child, "/exe");
    for (int i = 0; i < 200; ++i) {
      std::error_code ec;
      if (std::filesystem::read_symlink(exe, ec) == sleep_bin) break;
      usleep(10 * 1000);
    }
  };
  auto sensor = ProcessSensor::Start(o);
  ASSERT_TRUE(sensor.ok()) << sensor.status();
  ASSERT_GT(child, 0);
  absl::Cleanup reap = [&] {
    kill(child, SIGKILL);
    (void)testing::WaitChild(child);
  };
  const uint32_t pid = child;
  std::vector<tetragon::GetEventsResponse> execs;
  EventBus::Event ev;
  // The exec event, then (after the sensor has decoded everything queued)
  // nothing more for this pid.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (execs.empty() && sub->Next(&ev, deadline)) {
    if (ev->has_process_exec() && ev->process_exec().process().pid().value() == pid) execs.push_back(*ev);
  }
  ASSERT_EQ(execs.size(), 1u);
  deadline = absl::Now() + absl::Milliseconds(500);
  while (sub->Next(&ev, deadline)) {
    if (ev->has_process_exec() && ev->process_exec().process().pid().value() == pid) execs.push_back(*ev);
  }
  ASSERT_EQ(execs.size(), 1u) << "a second process_exec for the same exec";
  const tetragon::Process& p = execs[0].process_exec().process();
  EXPECT_EQ(p.binary(), sleep_bin);
  EXPECT_EQ(p.arguments(), "30");
  EXPECT_EQ(execs[0].process_exec().parent().pid().value(), static_cast<uint32_t>(getpid()));
  auto cached = cache.GetByTgid(pid);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->exec_id(), p.exec_id());
  EXPECT_EQ(cached->binary(), sleep_bin);

  std::move(reap).Invoke();
  bool exited = false;
  deadline = absl::Now() + absl::Seconds(10);
  while (!exited && sub->Next(&ev, deadline)) {
    if (ev->has_process_exit() && ev->process_exit().process().pid().value() == pid) {
      exited = true;
      EXPECT_EQ(ev->process_exit().process().exec_id(), p.exec_id());
      EXPECT_EQ(ev->process_exit().signal(), "SIGKILL");
    }
  }
  EXPECT_TRUE(exited);
  EXPECT_EQ((*sensor)->lost(), 0u);
}

TEST_F(ProcessSensorRootTest, KilledProcessReportsTheSignal) {
  auto pid = cgroup_->Spawn({"/bin/sleep", "30"});
  ASSERT_TRUE(pid.ok());
  // Wait for its exec event, then kill it.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  EventBus::Event ev;
  std::string exec_id;
  while (exec_id.empty() && sub_->Next(&ev, deadline)) {
    if (ev->has_process_exec() && ev->process_exec().process().pid().value() == static_cast<uint32_t>(*pid)) {
      exec_id = ev->process_exec().process().exec_id();
      EXPECT_EQ(ev->process_exec().process().arguments(), "30");
    }
  }
  ASSERT_FALSE(exec_id.empty());
  EXPECT_EQ(cache_.GetByTgid(*pid)->exec_id(), exec_id);  // queryable while running
  kill(*pid, SIGKILL);
  ASSERT_TRUE(testing::WaitChild(*pid).ok());
  bool seen = false;
  while (!seen && sub_->Next(&ev, deadline)) {
    if (ev->has_process_exit() && ev->process_exit().process().exec_id() == exec_id) {
      seen = true;
      EXPECT_EQ(ev->process_exit().signal(), "SIGKILL");
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(sensor_->lost(), 0u);
  EXPECT_GE(sensor_->exec_events(), 1u);
}

}  // namespace
}  // namespace tgd
