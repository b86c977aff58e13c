// Tests that a slow policy load never holds up the rest of the API: loads run
// outside the manager's lock (list, size, delete, other adds go on and see
// the policy in TP_STATE_LOADING), a delete during a load wins, and at most
// max_concurrent_requests adds parse and load at once. A gated backend
// blocks each load until the test opens its gate: nothing depends on timing.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "sensor/policymgr/policy_manager.h"
#include "sensor/policymgr/recording_backend.h"

namespace tgd {
namespace {

class NullPolicy final : public LoadedPolicy {
 public:
  explicit NullPolicy(std::atomic<int>* live) : live_(live) { ++*live_; }
  ~NullPolicy() override { --*live_; }
  absl::Status SetEnabled(bool) override { return absl::OkStatus(); }
  absl::Status SetMode(PolicyMode) override { return absl::OkStatus(); }
  uint64_t KernelMemoryBytes() const override { return 0; }
  std::vector<std::string> Sensors() const override { return {}; }
  PolicyCounters Counters() const override { return {}; }

 private:
  std::atomic<int>* live_;
};

// Loads of policies whose name starts with "slow" wait for Open().
class GatedBackend final : public PolicyBackend {
 public:
  std::string Name() const override { return "gated"; }
  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const PolicyDocument& doc, uint32_t, PolicyMode) override {
    if (doc.name.rfind("slow", 0) == 0) {
      absl::MutexLock l(&mu_);
      ++waiting_;
      max_waiting_ = std::max(max_waiting_, waiting_);
      mu_.Await(absl::Condition(&open_));
      --waiting_;
    }
    return std::make_unique<NullPolicy>(&live);
  }
  void Open() {
    absl::MutexLock l(&mu_);
    open_ = true;
  }
  // Blocks until `n` loads wait at the gate.
  void AwaitWaiting(int n) {
    absl::MutexLock l(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return waiting_ >= n; };
    mu_.Await(absl::Condition(&enough));
  }
  int max_waiting() {
    absl::MutexLock l(&mu_);
    return max_waiting_;
  }
  std::atomic<int> live{0};  // LoadedPolicy objects alive

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int max_waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

const tetragon::TracingPolicyStatus* Find(const std::vector<tetragon::TracingPolicyStatus>& list,
                                          const std::string& name) {
  for (const auto& p : list) {
    if (p.name() == name) return &p;
  }
  return nullptr;
}

TEST(PolicyManagerConcurrencyTest, ASlowLoadBlocksNothingElse) {
  GatedBackend backend;
  PolicyManager mgr(&backend);
  ASSERT_TRUE(mgr.Add(testing::TestPolicyYaml("quick")).ok());
  absl::Status slow_status;
  std::thread slow([&] { slow_status = mgr.Add(testing::TestPolicyYaml("slow-one")); });
  backend.AwaitWaiting(1);
  // The load is stuck in the backend; everything else answers.
  auto list = mgr.List();
  ASSERT_EQ(list.size(), 2u);
  ASSERT_NE(Find(list, "slow-one"), nullptr);
  EXPECT_EQ(Find(list, "slow-one")->state(), tetragon::TP_STATE_LOADING);
  EXPECT_EQ(Find(list, "quick")->state(), tetragon::TP_STATE_ENABLED);
  EXPECT_EQ(mgr.size(), 1u);
  EXPECT_EQ(mgr.loading(), 1u);
  EXPECT_EQ(mgr.Add(testing::TestPolicyYaml("slow-one")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(mgr.Configure("slow-one", "", false, std::nullopt).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(mgr.Add(testing::TestPolicyYaml("another")).ok());
  EXPECT_TRUE(mgr.Delete("quick", "").ok());
  backend.Open();
  slow.join();
  EXPECT_TRUE(slow_status.ok()) << slow_status;
  list = mgr.List();
  ASSERT_NE(Find(list, "slow-one"), nullptr);
  EXPECT_EQ(Find(list, "slow-one")->state(), tetragon::TP_STATE_ENABLED);
  EXPECT_EQ(mgr.loading(), 0u);
  EXPECT_EQ(backend.live.load(), 2);  // slow-one and another
}

TEST(PolicyManagerConcurrencyTest, DeleteDuringALoadWins) {
  GatedBackend backend;
  PolicyManager mgr(&backend);
  absl::Status slow_status;
  std::thread slow([&] { slow_status = mgr.Add(testing::TestPolicyYaml("slow-deleted")); });
  backend.AwaitWaiting(1);
  EXPECT_TRUE(mgr.Delete("slow-deleted", "").ok());
  EXPECT_TRUE(mgr.List().empty());
  backend.Open();
  slow.join();
  EXPECT_EQ(slow_status.code(), absl::StatusCode::kAborted) << slow_status;
  EXPECT_TRUE(mgr.List().empty());
  EXPECT_EQ(backend.live.load(), 0);  // what loaded was unloaded
}

TEST(PolicyManagerConcurrencyTest, AtMostMaxConcurrentRequestsParseAndLoadAtOnce) {
  GatedBackend backend;
  PolicyManager mgr(&backend);
  mgr.set_max_concurrent_requests(2);
  std::vector<std::thread> adds;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    adds.emplace_back([&, i] { ok += mgr.Add(testing::TestPolicyYaml("slow-" + std::to_string(i))).ok(); });
  }
  backend.AwaitWaiting(2);
  // Two hold the slots at the gate; the other four wait for a slot, before
  // parsing. (However long this runs, no third load reaches the gate.)
  EXPECT_EQ(mgr.loading(), 2u);
  backend.Open();
  for (auto& t : adds) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(backend.max_waiting(), 2);
  EXPECT_EQ(mgr.size(), 6u);
}

}  // namespace
}  // namespace tgd
