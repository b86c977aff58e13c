// binaryDigests: digests of known contents, the build id of a real binary,
// and VerifyBinaryDigests' match, mismatch and refusals.
#include "sensor/loader/binary_digest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

class BinaryDigestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    path_ = absl::StrCat(tmp ? tmp : "/tmp", "/tgd-digest-", getpid());
    int w = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(w, 0);
    ASSERT_EQ(write(w, "abc", 3), 3);
    close(w);
    fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  std::string path_;
  int fd_ = -1;
};

constexpr char kSha256Abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST_F(BinaryDigestTest, KnownDigests) {
  EXPECT_EQ(*FileDigest(fd_, "sha256"), kSha256Abc);
  EXPECT_EQ(*FileDigest(fd_, "sha1"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(FileDigest(fd_, "sha384")->size(), 96u);
  EXPECT_EQ(FileDigest(fd_, "sha512")->substr(0, 16), "ddaf35a193617aba");
  EXPECT_EQ(FileDigest(fd_, "md5").status().code(), absl::StatusCode::kInvalidArgument);
  // Not an ELF file: no build id.
  EXPECT_EQ(FileDigest(fd_, "build-id").status().code(), absl::StatusCode::kInvalidArgument);
  // pread: the file offset did not move.
  EXPECT_EQ(lseek(fd_, 0, SEEK_CUR), 0);
}

TEST_F(BinaryDigestTest, VerifyMatchesAnyListedDigest) {
  const std::string f = "spec.uprobes[0]";
  EXPECT_TRUE(VerifyBinaryDigests(fd_, {}, f, path_).ok());
  EXPECT_TRUE(VerifyBinaryDigests(fd_, {absl::StrCat("sha256:", kSha256Abc)}, f, path_).ok());
  // Case and spaces do not matter; a wrong digest before the right one.
  EXPECT_TRUE(VerifyBinaryDigests(fd_, {"sha256:00", absl::StrCat(" SHA256 : ", absl::AsciiStrToUpper(kSha256Abc))},
                                  f, path_)
                  .ok());
  absl::Status s = VerifyBinaryDigests(fd_, {"sha256:00", "sha1:11"}, f, path_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(IsDigestMismatch(s)) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0]: digest verification failed for path"), std::string::npos) << s;
  EXPECT_NE(s.message().find(kSha256Abc), std::string::npos) << s;
  // A malformed entry or an unsupported algorithm is an error at once.
  s = VerifyBinaryDigests(fd_, {"sha256:00", "deadbeef"}, f, path_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0].binaryDigests[1]"), std::string::npos) << s;
  EXPECT_FALSE(IsDigestMismatch(s));
  s = VerifyBinaryDigests(fd_, {"md5:00", absl::StrCat("sha256:", kSha256Abc)}, f, path_);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("binaryDigests[0]: unsupported digest algorithm"), std::string::npos) << s;
}

TEST(BinaryDigestElfTest, BuildIdOfARealBinary) {
  int fd = open("sensor/loader/testdata/uprobe_extras_target", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto id = FileDigest(fd, "build-id");
  if (!id.ok()) {
    close(fd);
    GTEST_SKIP() << "the toolchain did not write a build id: " << id.status();
  }
  EXPECT_GE(id->size(), 16u);
  EXPECT_TRUE(VerifyBinaryDigests(fd, {absl::StrCat("build-id:", *id)}, "f", "p").ok());
  EXPECT_TRUE(IsDigestMismatch(VerifyBinaryDigests(fd, {"build-id:00"}, "f", "p")));
  close(fd);
}

}  // namespace
}  // namespace tgd
