// Test fixture: a program run as a child process with its output in a log
// file, killed (SIGKILL) and reaped when the owner goes away, also when the
// test fails.
#ifndef TGDISPATCH_SENSOR_TESTING_CHILD_PROCESS_H_
#define TGDISPATCH_SENSOR_TESTING_CHILD_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tgd::testing {

class ChildProcess {
 public:
  // Runs args[0] (a path) with args; stdout and stderr go to `log_path`.
  ChildProcess(const std::vector<std::string>& args, const std::string& log_path) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~ChildProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Waits for the child; returns its raw wait status.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// The whole content of a file ("" when it cannot be read).
inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A --state-dir of its own for each test that runs the daemon (under the
// test's temporary directory, which bazel removes): policies one test adds
// through the API never come back in another.
inline std::string TestStateDir() {
  const char* tmp = getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/tgd-state-" + std::to_string(getpid()) + "-" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_TESTING_CHILD_PROCESS_H_
