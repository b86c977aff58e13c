// imaHash in user space: IMA's algorithm from the kernel's command line and
// configuration, the digest of a file as Tetragon renders ima_hash, and the
// worker that adds it to process_lsm events (bounded, cached by inode
// version, nothing lost at shutdown).
#include "sensor/imahash/ima_hash.h"

#include <unistd.h>

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

TEST(ImaHashTest, AlgorithmFromCmdlineAndConfig) {
  const char* cfg = "CONFIG_X=y\nCONFIG_IMA=y\nCONFIG_IMA_DEFAULT_HASH_SHA256=y\nCONFIG_IMA_DEFAULT_HASH=\"sha256\"\n";
  EXPECT_EQ(ImaAlgorithmOf("console=ttyS0 quiet", cfg), "sha256");
  EXPECT_EQ(ImaAlgorithmOf("console=ttyS0 ima_hash=sha512 quiet\n", cfg), "sha512");
  EXPECT_EQ(ImaAlgorithmOf("ima_hash=sha512", "# CONFIG_IMA is not set\n"), "") << "no IMA: no hash";
  EXPECT_EQ(ImaAlgorithmOf("", ""), "");
}

class ImaFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(::testing::TempDir(), "/ima-", getpid());
    Write("abc");
  }
  void TearDown() override { unlink(path_.c_str()); }
  void Write(const std::string& s) { std::ofstream(path_, std::ios::trunc) << s; }
  std::string path_;
};

// Known digests of "abc" (FIPS 180 / RFC 1321 test vectors).
TEST_F(ImaFileTest, DigestsAsTetragonRendersThem) {
  EXPECT_EQ(*ImaFileHash(path_, "sha256", 1 << 20),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*ImaFileHash(path_, "sha1", 1 << 20), "sha1:a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(*ImaFileHash(path_, "md5", 1 << 20), "md5:900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(ImaFileHash(path_, "wp512", 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ImaFileHash(path_, "sha256", 2).status().code(), absl::StatusCode::kFailedPrecondition) << "too large";
  EXPECT_EQ(ImaFileHash("/nonexistent/x", "sha256", 1 << 20).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ImaFileTest, WorkerAddsTheHashThenPublishes) {
  absl::Mutex mu;
  std::vector<tetragon::GetEventsResponse> got;
  auto publish = [&](tetragon::GetEventsResponse e) {
    absl::MutexLock l(&mu);
    got.push_back(std::move(e));
  };
  // Waits for the n-th event itself (bounded: a missing one fails, not hangs).
  auto wait_for = [&](size_t n) {
    absl::MutexLock l(&mu);
    auto have = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return got.size() >= n; };
    for (int i = 0; i < 1000 && !have(); ++i) mu.AwaitWithTimeout(absl::Condition(&have), absl::Milliseconds(10));
    return have();
  };
  ImaHasherOptions o;
  o.algo = "sha256";
  {
    ImaHasher h(o, publish);
    tetragon::GetEventsResponse ev;
    ev.mutable_process_lsm()->set_function_name("bprm_check_security");
    h.Submit(path_, ev);
    ASSERT_TRUE(wait_for(1));
    h.Submit(path_, ev);  // same inode version: from the cache
    ASSERT_TRUE(wait_for(2));
    EXPECT_EQ(h.stats().hashed, 1u);
    EXPECT_EQ(h.stats().cached, 1u);
    Write("abcd");  // another version: hashed again
    h.Submit(path_, ev);
    ASSERT_TRUE(wait_for(3));
    h.Submit("/nonexistent/x", ev);  // cannot be read: sent without a hash
    ASSERT_TRUE(wait_for(4));
  }
  absl::MutexLock l(&mu);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].process_lsm().ima_hash(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(got[1].process_lsm().ima_hash(), got[0].process_lsm().ima_hash());
  EXPECT_EQ(got[2].process_lsm().ima_hash(), "sha256:88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
  EXPECT_EQ(got[3].process_lsm().ima_hash(), "");
}

// Without IMA (no algorithm) events go out at once, as they are.
TEST_F(ImaFileTest, NoImaNoHash) {
  std::vector<tetragon::GetEventsResponse> got;
  ImaHasher h(ImaHasherOptions{}, [&](tetragon::GetEventsResponse e) { got.push_back(std::move(e)); });
  tetragon::GetEventsResponse ev;
  ev.mutable_process_lsm();
  h.Submit(path_, ev);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].process_lsm().ima_hash(), "");
}

}  // namespace
}  // namespace tgd
