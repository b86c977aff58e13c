// TestCgroup implementation.
#include "sensor/testing/cgroup.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "sensor/base/errno_status.h"
#include "sensor/bpfcore/fs.h"

namespace tgd::testing {
namespace {

std::atomic<int> counter{0};

bool JoinCgroup(const std::string& path) {
  std::ofstream out(path + "/cgroup.procs");
  out << getpid();
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace

std::string RootTestSkipReason() {
  if (geteuid() != 0) return "needs root (euid != 0)";
  if (!FindCgroup2Mount().ok()) return "no cgroup v2 mount in /proc/self/mountinfo";
  return "";
}

absl::StatusOr<std::unique_ptr<TestCgroup>> TestCgroup::Create(absl::string_view name) {
  absl::StatusOr<std::string> mount = FindCgroup2Mount();
  if (!mount.ok()) return mount.status();
  std::string base = *mount + "/tgd-test";
  mkdir(base.c_str(), 0755);
  std::string leaf = absl::StrCat(name, "-", getpid(), "-", counter++);
  std::string path = base + "/" + leaf;
  if (mkdir(path.c_str(), 0755) != 0) return ErrnoStatus(errno, "mkdir " + path);
  absl::StatusOr<uint64_t> id = CgroupIdOfPath(path);
  if (!id.ok()) return id.status();
  return std::unique_ptr<TestCgroup>(new TestCgroup(path, "/tgd-test/" + leaf, *id));
}

absl::StatusOr<std::unique_ptr<TestCgroup>> TestCgroup::CreateChild(absl::string_view name) {
  std::string path = absl::StrCat(path_, "/", name);
  if (mkdir(path.c_str(), 0755) != 0) return ErrnoStatus(errno, "mkdir " + path);
  absl::StatusOr<uint64_t> id = CgroupIdOfPath(path);
  if (!id.ok()) return id.status();
  auto child = std::unique_ptr<TestCgroup>(
      new TestCgroup(path, absl::StrCat(relative_, "/", name), *id));
  return child;
}

absl::StatusOr<pid_t> TestCgroup::SpawnFn(std::function<int()> fn) {
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus(errno, "fork");
  if (pid == 0) {
    if (!JoinCgroup(path_)) _exit(126);
    _exit(fn());
  }
  return pid;
}

absl::StatusOr<pid_t> TestCgroup::Spawn(const std::vector<std::string>& argv) {
  return SpawnFn([argv]() {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    return 127;
  });
}

void TestCgroup::KillAll() {
  for (int round = 0; round < 50; ++round) {
    std::ifstream in(path_ + "/cgroup.procs");
    pid_t pid;
    bool any = false;
    while (in >> pid) {
      any = true;
      kill(pid, SIGKILL);
    }
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TestCgroup::~TestCgroup() {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) it->reset();
  KillAll();
  // rmdir fails while zombies linger; retry briefly.
  for (int i = 0; i < 100 && rmdir(path_.c_str()) != 0 && errno == EBUSY; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

absl::StatusOr<int> WaitChild(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus(errno, "waitpid");
  }
  return status;
}

}  // namespace tgd::testing
