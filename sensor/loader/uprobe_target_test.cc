// Tests of OpenUprobeTarget: regular ELF files open; FIFOs (without blocking),
// directories, devices, sockets and non-ELF files are refused, naming the field.
#include "sensor/loader/uprobe_target.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

class UprobeTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // /tmp, not TEST_TMPDIR: a unix socket path must fit in 108 bytes.
    dir_ = absl::StrCat("/tmp/tgd-uprobe-target-", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(UprobeTargetTest, OpensARegularElfFileAndFollowsSymlinks) {
  auto fd = OpenUprobeTarget("/proc/self/exe", "spec.uprobes[0].path");
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_TRUE(fd->valid());
  std::filesystem::create_symlink("/proc/self/exe", dir_ + "/link");
  EXPECT_TRUE(OpenUprobeTarget(dir_ + "/link", "f").ok());
}

TEST_F(UprobeTargetTest, RefusesWhatIsNotARegularElfFileWithoutBlocking) {
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(dir_ + "/text") << "hello\n";
  std::ofstream(dir_ + "/empty");
  // An ELF header and nothing else.
  std::ofstream(dir_ + "/truncated") << "\x7f" "ELF\x02\x01\x01";
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string sock_path = dir_ + "/sock";
  ASSERT_LT(sock_path.size(), sizeof(sa.sun_path));
  memcpy(sa.sun_path, sock_path.c_str(), sock_path.size());
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  const std::pair<std::string, std::string> cases[] = {
      {fifo, "a FIFO"},
      {dir_, "a directory"},
      {"/dev/null", "a character device"},
      {sock_path, "a socket"},
      {dir_ + "/text", "not an ELF file"},
      {dir_ + "/empty", "not an ELF file"},
      {dir_ + "/truncated", "ELF file"},
      {"relative/bin", "absolute path"},
  };
  for (const auto& [path, why] : cases) {
    auto fd = OpenUprobeTarget(path, "spec.uprobes[3].path");
    ASSERT_FALSE(fd.ok()) << path;
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument) << fd.status();
    EXPECT_EQ(fd.status().message().rfind("spec.uprobes[3].path: \"", 0), 0u) << fd.status();
    EXPECT_NE(fd.status().message().find(why), std::string::npos) << fd.status();
  }
  close(sock);
  auto missing = OpenUprobeTarget(dir_ + "/missing", "spec.uprobes[0].path");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  // A hostile path is quoted and cut, not echoed whole.
  auto long_path = OpenUprobeTarget("/" + std::string(100000, 'a'), "spec.uprobes[0].path");
  EXPECT_FALSE(long_path.ok());
  EXPECT_LT(long_path.status().message().size(), 1024u) << long_path.status().message().size();
}

}  // namespace
}  // namespace tgd
