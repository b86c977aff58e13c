// Root tests for the kernel file system helpers, on real bpffs and cgroups.
#include "sensor/bpfcore/fs.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

class FsRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string reason = testing::RootTestSkipReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }
};

TEST_F(FsRootTest, BpffsDirIsCreatedAndRemovable) {
  std::string dir = "/sys/fs/bpf/tgd-fs-test-" + std::to_string(getpid());
  ASSERT_TRUE(EnsureBpffsDir(dir).ok());
  EXPECT_EQ(access(dir.c_str(), F_OK), 0);
  EXPECT_EQ(rmdir(dir.c_str()), 0);
}

TEST_F(FsRootTest, NonBpffsDirIsRefused) {
  absl::Status s = EnsureBpffsDir("/tmp/not-bpffs/x");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST_F(FsRootTest, CgroupIdMatchesProcessMembership) {
  auto cg = testing::TestCgroup::Create("fs");
  ASSERT_TRUE(cg.ok()) << cg.status();
  absl::StatusOr<uint64_t> id = CgroupIdOfPath((*cg)->path());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, (*cg)->id());
  // A child in the cgroup sees its own /proc/self/cgroup pointing at it.
  std::string rel = (*cg)->relative_path();
  auto pid = (*cg)->SpawnFn([rel]() {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("0::", 0) == 0) return line.substr(3) == rel ? 0 : 1;
    }
    return 2;
  });
  ASSERT_TRUE(pid.ok());
  auto status = testing::WaitChild(*pid);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_F(FsRootTest, TracefsIsAvailable) {
  auto root = EnsureTracefs();
  ASSERT_TRUE(root.ok()) << root.status();
  std::ifstream fmt(*root + "/events/syscalls/sys_enter_openat/format");
  EXPECT_TRUE(static_cast<bool>(fmt)) << *root;
}

}  // namespace
}  // namespace tgd
