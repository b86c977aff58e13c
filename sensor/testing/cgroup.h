// Test fixtures for root tests: a throwaway cgroup v2 directory that real
// child processes run in, cleaned up (processes killed, directory removed)
// when the fixture goes away, also when the test fails.
#ifndef TGDISPATCH_SENSOR_TESTING_CGROUP_H_
#define TGDISPATCH_SENSOR_TESTING_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tgd::testing {

// Returns a non-empty reason when the machine cannot run root tests (not
// root, no cgroup v2 mount); tests GTEST_SKIP() with it.
std::string RootTestSkipReason();

class TestCgroup {
 public:
  // Creates <cgroup2 mount>/tgd-test/<name>-<pid>-<n>. Errors: NOT_FOUND (no
  // cgroup v2), the errno of mkdir.
  static absl::StatusOr<std::unique_ptr<TestCgroup>> Create(absl::string_view name);
  ~TestCgroup();

  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  const std::string& path() const { return path_; }
  // Path relative to the cgroup v2 mount, starting with '/'.
  const std::string& relative_path() const { return relative_; }
  uint64_t id() const { return id_; }

  // Creates a child cgroup `name` below this one (removed with the parent).
  absl::StatusOr<std::unique_ptr<TestCgroup>> CreateChild(absl::string_view name);

  // Forks a child that joins this cgroup before exec'ing argv (argv[0] is a
  // path). Returns its pid; the caller reaps it (see WaitChild).
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv);
  // Forks a child that joins this cgroup and runs `fn`, exiting with its
  // return value.
  absl::StatusOr<pid_t> SpawnFn(std::function<int()> fn);

 private:
  TestCgroup(std::string path, std::string relative, uint64_t id)
      : path_(std::move(path)), relative_(std::move(relative)), id_(id) {}
  void KillAll();

  std::string path_;
  std::string relative_;
  uint64_t id_;
  std::vector<std::unique_ptr<TestCgroup>> children_;
};

// Waits for `pid`; returns the raw wait status. Errors: waitpid's errno.
absl::StatusOr<int> WaitChild(pid_t pid);

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_TESTING_CGROUP_H_
