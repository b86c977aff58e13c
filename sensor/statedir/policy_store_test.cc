// PolicyStore: what is saved comes back (state, mode, YAML), removal, atomic
// replacement, bounds and clear errors; StateDirLock refuses a second holder.
#include "sensor/statedir/policy_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sensor/policymgr/policy_document.h"

namespace tgd {
namespace {

class PolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/state-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(PolicyStoreTest, SavedPoliciesComeBackWithStateAndMode) {
  auto store = PolicyStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  struct stat sb;
  ASSERT_EQ(stat((*store)->policies_dir().c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0700u);
  PersistedPolicy a{"", "a", "kind: TracingPolicy\n---\nnot: a header\n", true, PolicyMode::kEnforce};
  PersistedPolicy b{"team/x", "b_c", "yaml b", false, PolicyMode::kMonitor};
  ASSERT_TRUE((*store)->Save(a).ok());
  ASSERT_TRUE((*store)->Save(b).ok());
  b.enabled = true;  // replaced whole
  ASSERT_TRUE((*store)->Save(b).ok());
  PolicyStore::Contents c = (*store)->LoadAll();
  EXPECT_TRUE(c.errors.empty());
  ASSERT_EQ(c.policies.size(), 2u);
  const PersistedPolicy& ra = c.policies[0].name == "a" ? c.policies[0] : c.policies[1];
  const PersistedPolicy& rb = c.policies[0].name == "a" ? c.policies[1] : c.policies[0];
  EXPECT_EQ(ra.yaml, a.yaml);  // a "---" line inside the YAML stays YAML
  EXPECT_TRUE(ra.enabled);
  EXPECT_EQ(ra.mode, PolicyMode::kEnforce);
  EXPECT_EQ(rb.namespace_, "team/x");
  EXPECT_EQ(rb.name, "b_c");
  EXPECT_TRUE(rb.enabled);
  EXPECT_EQ(rb.mode, PolicyMode::kMonitor);
  // No temporary file stays behind.
  for (const auto& e : std::filesystem::directory_iterator((*store)->policies_dir())) {
    EXPECT_EQ(e.path().extension(), ".policy") << e.path();
  }

  ASSERT_TRUE((*store)->Remove("team/x", "b_c").ok());
  EXPECT_TRUE((*store)->Remove("team/x", "b_c").ok());  // already gone: fine
  c = (*store)->LoadAll();
  ASSERT_EQ(c.policies.size(), 1u);
  EXPECT_EQ(c.policies[0].name, "a");
}

TEST_F(PolicyStoreTest, RefusesWhatItCannotKeep) {
  auto store = PolicyStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  absl::Status st = (*store)->Save({"", "a\nmode: monitor", "y", true, PolicyMode::kEnforce});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  st = (*store)->Save({"", "big", std::string(kMaxPolicyBytes + 1, 'x'), true, PolicyMode::kEnforce});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("limit"), std::string::npos) << st;
  EXPECT_EQ(PolicyStore::Open("relative/dir").status().code(), absl::StatusCode::kInvalidArgument);
  // Very long names still get a file (name + hash), and come back whole.
  std::string long_name(400, 'n');
  ASSERT_TRUE((*store)->Save({"", long_name, "y", true, PolicyMode::kEnforce}).ok());
  EXPECT_LT(std::filesystem::path((*store)->PathOf("", long_name)).filename().string().size(), 255u);
  PolicyStore::Contents c = (*store)->LoadAll();
  ASSERT_EQ(c.policies.size(), 1u);
  EXPECT_EQ(c.policies[0].name, long_name);
}

TEST_F(PolicyStoreTest, BadFilesAreReportedNotLoaded) {
  auto store = PolicyStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  const std::string d = (*store)->policies_dir();
  std::ofstream(d + "/garbage.policy") << "hello\n";
  std::ofstream(d + "/badmode.policy") << "tgdispatch-policy-state: 1\nname: x\nenabled: true\nmode: loud\n---\ny";
  std::ofstream(d + "/.tmp-x.policy") << "half written";
  std::filesystem::create_symlink("/etc/passwd", d + "/link.policy");
  PolicyStore::Contents c = (*store)->LoadAll();
  EXPECT_TRUE(c.policies.empty());
  ASSERT_EQ(c.errors.size(), 3u);
  for (const auto& [path, st] : c.errors) EXPECT_FALSE(st.ok()) << path;
  EXPECT_FALSE(std::filesystem::exists(d + "/.tmp-x.policy"));  // a crashed write is dropped
  EXPECT_EQ(ParsePolicyFile("tgdispatch-policy-state: 1\nname: x\nenabled: true\nmode: loud\n---\ny")
                .status().message(),
            "mode: want enforce or monitor");
}

TEST_F(PolicyStoreTest, OneDaemonPerStateDir) {
  EXPECT_EQ(StateDirLock::HolderPid(dir_), 0);
  auto lock = StateDirLock::Acquire(dir_);
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ(StateDirLock::HolderPid(dir_), getpid());
  // flock locks belong to the open file: a second open in this process conflicts too.
  auto second = StateDirLock::Acquire(dir_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find(absl::StrCat("pid ", getpid())), std::string::npos) << second.status();
  lock->reset();
  EXPECT_EQ(StateDirLock::HolderPid(dir_), 0);
  ASSERT_TRUE(RemoveStateDir(dir_).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

}  // namespace
}  // namespace tgd
