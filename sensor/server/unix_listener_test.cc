// Tests of UnixListener: the exact mode under umask 000, what it does with
// what is already at the path, accepting, and removing only its own socket.
#include "sensor/server/unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

class UnixListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: sun_path holds 107 bytes.
    dir_ = absl::StrCat("/tmp/tgd-ul-", getpid(), "-", ::testing::UnitTest::GetInstance()->random_seed());
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0) << strerror(errno);
    path_ = dir_ + "/api.sock";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  static int Connect(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::string dir_, path_;
};

TEST_F(UnixListenerTest, ModeIsExactUnderUmask000) {
  mode_t old = umask(0);
  auto l = UnixListener::Create(path_, 0600, std::nullopt);
  umask(old);
  ASSERT_TRUE(l.ok()) << l.status();
  struct stat sb;
  ASSERT_EQ(lstat(path_.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
}

TEST_F(UnixListenerTest, GroupModeAndGroup) {
  mode_t old = umask(0);
  auto l = UnixListener::Create(path_, 0660, getegid());
  umask(old);
  ASSERT_TRUE(l.ok()) << l.status();
  struct stat sb;
  ASSERT_EQ(lstat(path_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0660u);
  EXPECT_EQ(sb.st_gid, getegid());
}

TEST_F(UnixListenerTest, ARegularFileAtThePathIsRefusedAndLeft) {
  std::ofstream(path_) << "precious";
  auto l = UnixListener::Create(path_, 0600, std::nullopt);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(l.status().message().find("not a socket"), std::string::npos) << l.status();
  EXPECT_EQ(Read(path_), "precious");
}

TEST_F(UnixListenerTest, AStaleSocketIsReplacedALiveOneIsNot) {
  {
    // A socket bound and closed without unlink: nothing listens.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    close(fd);
  }
  auto first = UnixListener::Create(path_, 0600, std::nullopt);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = UnixListener::Create(path_, 0600, std::nullopt);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  // The failed second one did not remove the first one's socket.
  int c = Connect(path_);
  EXPECT_GE(c, 0);
  if (c >= 0) close(c);
}

TEST_F(UnixListenerTest, AcceptsAndStops) {
  auto l = UnixListener::Create(path_, 0600, std::nullopt);
  ASSERT_TRUE(l.ok()) << l.status();
  std::atomic<int> accepted{0};
  (*l)->StartAccepting([&](int fd) {
    ++accepted;
    close(fd);
  });
  int c = Connect(path_);
  ASSERT_GE(c, 0);
  close(c);
  for (int i = 0; i < 200 && accepted.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(accepted.load(), 1);
  (*l)->Stop();
  (*l)->Stop();  // idempotent
}

TEST_F(UnixListenerTest, RemovesOnlyItsOwnSocket) {
  {
    auto l = UnixListener::Create(path_, 0600, std::nullopt);
    ASSERT_TRUE(l.ok()) << l.status();
  }
  struct stat sb;
  EXPECT_NE(lstat(path_.c_str(), &sb), 0) << "its own socket is removed";

  auto l = UnixListener::Create(path_, 0600, std::nullopt);
  ASSERT_TRUE(l.ok()) << l.status();
  // Someone replaces the socket with a file of their own.
  ASSERT_EQ(unlink(path_.c_str()), 0);
  std::ofstream(path_) << "theirs";
  l->reset();
  EXPECT_EQ(Read(path_), "theirs");
}

}  // namespace
}  // namespace tgd
