// Tests of RotatingFile: lumberjack-style backup names, rotation by size with
// whole lines, the bounded number of backups, permissions, and never writing
// through a symlink, a FIFO or a hard link planted at the path.
#include "sensor/export/rotating_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class RotatingFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/rotating-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(RotatingFileTest, BackupNamesAreLumberjacks) {
  absl::Time t = absl::FromUnixMillis(1732356000123);
  EXPECT_EQ(RotatingFile::BackupName("/var/log/tetragon.log", t),
            "/var/log/tetragon-2024-11-23T10-00-00.123.log");
  EXPECT_EQ(RotatingFile::BackupName("/var/log.d/events", t), "/var/log.d/events-2024-11-23T10-00-00.123");
}

TEST_F(RotatingFileTest, RotatesWholeLinesAndKeepsBoundedBackups) {
  RotatingFileOptions o;
  o.path = dir_ + "/sub/events.log";  // the directory is created
  o.max_size_bytes = 100;
  o.max_backups = 3;
  o.mode = 0640;
  auto f = RotatingFile::Open(o);
  ASSERT_TRUE(f.ok()) << f.status();
  int written = 0;
  for (int i = 0; i < 200; ++i) {
    std::string line = absl::StrCat("{\"n\":", i, ",\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}");  // ~35 bytes
    ASSERT_TRUE((*f)->AppendLine(line).ok());
    ++written;
  }
  ASSERT_TRUE((*f)->Flush().ok());
  EXPECT_GT((*f)->rotations(), 50u);
  std::vector<std::string> backups = RotatingFile::ListBackups(o.path);
  EXPECT_EQ(backups.size(), 3u);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/sub")) {
    ++files;
    std::string content = ReadFile(e.path().string());
    EXPECT_LE(content.size(), 100u) << e.path();
    ASSERT_FALSE(content.empty());
    EXPECT_EQ(content.back(), '\n');
    for (absl::string_view l : absl::StrSplit(content, '\n', absl::SkipEmpty())) {
      EXPECT_EQ(l.front(), '{');
      EXPECT_EQ(l.back(), '}');
    }
    struct stat sb;
    ASSERT_EQ(stat(e.path().c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 0777, 0640u) << e.path();
  }
  EXPECT_EQ(files, 4);  // current + 3 backups
  // The newest lines are in the current file, the ones before in the newest backup.
  std::string current = ReadFile(o.path);
  EXPECT_NE(current.find("\"n\":199,"), std::string::npos) << current;
  std::string newest_backup = ReadFile(backups.back());
  EXPECT_NE(newest_backup.find(absl::StrCat("\"n\":", 199 - 2, ",")), std::string::npos)
      << newest_backup << "\ncurrent:\n" << current;
}

TEST_F(RotatingFileTest, LongLineGetsAFileOfItsOwnAndAppendsToExistingFile) {
  RotatingFileOptions o;
  o.path = dir_ + "/e.log";
  o.max_size_bytes = 10;
  o.max_backups = 0;  // keep all
  {
    auto f = RotatingFile::Open(o);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->AppendLine("abc").ok());
  }
  EXPECT_EQ(ReadFile(o.path), "abc\n");
  auto f = RotatingFile::Open(o);  // reopens for append
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->AppendLine("de").ok());
  ASSERT_TRUE((*f)->AppendLine(std::string(30, 'x')).ok());
  ASSERT_TRUE((*f)->AppendLine("fg").ok());
  ASSERT_TRUE((*f)->Flush().ok());
  EXPECT_EQ(ReadFile(o.path), "fg\n");
  auto backups = RotatingFile::ListBackups(o.path);
  ASSERT_EQ(backups.size(), 2u);
  EXPECT_EQ(ReadFile(backups[0]), "abc\nde\n");
  EXPECT_EQ(ReadFile(backups[1]), std::string(30, 'x') + "\n");
}

TEST_F(RotatingFileTest, BadPaths) {
  std::filesystem::create_directories(dir_);
  RotatingFileOptions o;
  o.path = dir_;
  auto f = RotatingFile::Open(o);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("is a directory"), std::string::npos);
  o.path = "";
  EXPECT_FALSE(RotatingFile::Open(o).ok());
  std::ofstream(dir_ + "/file") << "x";
  o.path = dir_ + "/file/under-a-file.log";
  EXPECT_FALSE(RotatingFile::Open(o).ok());
}

// A file the export must never touch: its content and mode are checked.
std::string MakeVictim(const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::string victim = dir + "/victim";
  std::ofstream(victim) << "secret\n";
  chmod(victim.c_str(), 0600);
  return victim;
}

void ExpectUntouched(const std::string& victim) {
  EXPECT_EQ(ReadFile(victim), "secret\n");
  struct stat sb;
  ASSERT_EQ(stat(victim.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
}

TEST_F(RotatingFileTest, ASymlinkAtThePathIsRefused) {
  std::string victim = MakeVictim(dir_);
  RotatingFileOptions o;
  o.path = dir_ + "/events.log";
  o.mode = 0644;
  ASSERT_EQ(symlink(victim.c_str(), o.path.c_str()), 0);
  auto f = RotatingFile::Open(o);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(f.status().message().find("symlink"), std::string::npos) << f.status();
  ExpectUntouched(victim);
}

TEST_F(RotatingFileTest, ASymlinkPlantedBeforeARotationIsNotFollowed) {
  std::string victim = MakeVictim(dir_);
  RotatingFileOptions o;
  o.path = dir_ + "/events.log";
  o.max_size_bytes = 64;
  o.mode = 0644;
  auto f = RotatingFile::Open(o);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->AppendLine(std::string(40, 'a')).ok());
  ASSERT_TRUE((*f)->Flush().ok());
  // The current file goes; a symlink takes its name. The next rotation
  // renames the symlink away and must create a fresh file, not open the
  // victim; if the symlink stays at the path, opening is refused.
  ASSERT_EQ(unlink(o.path.c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), o.path.c_str()), 0);
  for (int i = 0; i < 4; ++i) (*f)->AppendLine(std::string(40, 'b')).IgnoreError();
  (*f)->Flush().IgnoreError();
  ExpectUntouched(victim);
  struct stat sb;
  ASSERT_EQ(lstat(o.path.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISREG(sb.st_mode));
  EXPECT_EQ(ReadFile(o.path).find("secret"), std::string::npos);
}

TEST_F(RotatingFileTest, AFifoOrAHardLinkAtThePathIsRefused) {
  std::filesystem::create_directories(dir_);
  RotatingFileOptions o;
  o.path = dir_ + "/fifo.log";
  ASSERT_EQ(mkfifo(o.path.c_str(), 0600), 0);
  auto f = RotatingFile::Open(o);  // must not block
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("not a regular file"), std::string::npos) << f.status();

  std::string victim = MakeVictim(dir_);
  o.path = dir_ + "/linked.log";
  ASSERT_EQ(link(victim.c_str(), o.path.c_str()), 0);
  o.mode = 0644;
  f = RotatingFile::Open(o);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("hard link"), std::string::npos) << f.status();
  ExpectUntouched(victim);
}

}  // namespace
}  // namespace tgd
