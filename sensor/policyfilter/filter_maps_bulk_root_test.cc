// Root tests of the bulk load of the real policy filter maps
// (PolicyFilterState::Bulk, FilterMaps::BeginBulk): inside a bulk the
// in-memory content follows every change at once, the kernel's outer maps
// are written in a few batches (counted), and after the bulk the kernel maps
// equal the model, each the exact reverse of the other, with resized inner
// maps, rollbacks, deletes and pod changes in the middle of the bulk.
#include <bpf/bpf.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/policyfilter/filter_maps.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

// A throwaway bpffs directory, emptied and removed at scope exit.
class TempBpfDir {
 public:
  TempBpfDir() {
    static int n = 0;
    path_ = absl::StrCat("/sys/fs/bpf/tgd-test-pfbulk-", getpid(), "-", n++);
    ok_ = EnsureBpffsDir(path_).ok();
  }
  ~TempBpfDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  bool ok() const { return ok_; }

 private:
  std::string path_;
  bool ok_ = false;
};

#define SKIP_UNLESS_ROOT()                           \
  do {                                               \
    std::string why = testing::RootTestSkipReason(); \
    if (!why.empty()) GTEST_SKIP() << why;           \
  } while (0)

std::unique_ptr<PolicyFilterState> NewState(const TempBpfDir& dir, bool deferred = false) {
  PolicyFilterOptions o;
  o.bpf_dir = dir.path();
  o.defer_map_writes = deferred;
  o.cgroup_tracker = false;
  o.cgtracker_program = false;
  auto s = PolicyFilterState::Create(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

void ExpectMapsEqualModel(const PolicyFilterState& s) {
  auto kernel = ReadPolicyFilterMaps(s.policy_filter_maps_fd(), s.policy_filter_cgroup_maps_fd());
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  PolicyFilterContent model = s.Content();
  EXPECT_EQ(kernel->policies, model.policies);
  EXPECT_EQ(kernel->cgroups, model.cgroups);
  EXPECT_EQ(kernel->cgroups, ReverseOf(kernel->policies));
}

LabelSelector App(const std::string& app) { return LabelSelector{{{"app", app}}, {}}; }

// 400 scoped policies over 40 pods (10 per pod, and every 20th policy
// selects every pod: its inner map grows past its initial 16 cgroups; each
// pod's row grows past its initial 8 policies) in one bulk: a few batched
// writes instead of ~500 map-in-map writes, and the kernel maps equal the
// model once the bulk ends.
TEST(FilterMapsBulkRootTest, BulkLoadBatchesOuterWritesAndEndsConsistent) {
  SKIP_UNLESS_ROOT();
  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  auto s = NewState(dir);
  ASSERT_NE(s, nullptr);
  for (int p = 0; p < 40; ++p) {
    std::string app = absl::StrCat("app", p);
    ASSERT_TRUE(s->AddPodContainer({app, app, "default", {{"app", app}, {"all", "yes"}}},
                                   {app, "main", "", 7000 + static_cast<uint64_t>(p), ""})
                    .ok());
  }
  const uint64_t before = s->outer_map_writes();
  {
    PolicyFilterState::Bulk bulk(s.get());
    for (uint32_t i = 0; i < 400; ++i) {
      LabelSelector sel = i % 20 == 0 ? LabelSelector{{{"all", "yes"}}, {}} : App(absl::StrCat("app", i % 40));
      ASSERT_TRUE(s->AddPolicy(100 + i, "", sel, std::nullopt, std::nullopt).ok());
      // The in-memory content (what the run lists follow) is current at once.
      ASSERT_FALSE(s->CgroupsOfPolicy(100 + i).empty());
    }
    // An id already in use is refused inside a bulk too.
    EXPECT_TRUE(absl::IsAlreadyExists(s->AddPolicy(100, "", App("app0"), std::nullopt, std::nullopt)));
  }
  const uint64_t writes = s->outer_map_writes() - before;
  EXPECT_LE(writes, 8u) << "map-in-map writes (each waits for a grace period) of a 400-policy bulk load";
  ExpectMapsEqualModel(*s);
  EXPECT_EQ(s->CgroupsOfPolicy(100).size(), 40u);
}

// Deletes, pod changes and a second bulk in the middle: the kernel maps end
// equal to the model, whatever was held back when the change came.
TEST(FilterMapsBulkRootTest, ChangesInsideABulkKeepTheMapsRight) {
  SKIP_UNLESS_ROOT();
  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  auto s = NewState(dir);
  ASSERT_NE(s, nullptr);
  std::mt19937 rng(1414);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  std::set<uint32_t> live;
  s->BeginBulk();
  for (int step = 0; step < 600; ++step) {
    int op = pick(10);
    std::string app = absl::StrCat("app", pick(12));
    if (op < 5) {
      uint32_t id = 100 + pick(300);
      absl::Status st = s->AddPolicy(id, "", pick(8) == 0 ? LabelSelector{} : App(app), std::nullopt,
                                     std::nullopt);
      ASSERT_TRUE(st.ok() || absl::IsAlreadyExists(st)) << st;
      live.insert(id);
    } else if (op < 7 && !live.empty()) {
      uint32_t id = *std::next(live.begin(), pick(live.size()));
      ASSERT_TRUE(s->DelPolicy(id).ok());
      live.erase(id);
    } else if (op < 9) {
      uint64_t cg = 8000 + pick(30);
      ASSERT_TRUE(s->UpdatePod({absl::StrCat("pod", cg), "p", "default", {{"app", app}}},
                               {{absl::StrCat("c", cg), "main", "", cg, ""}})
                      .ok());
    } else {
      ASSERT_TRUE(s->DelPod(absl::StrCat("pod", 8000 + pick(30))).ok());
    }
    if (step == 300) {
      s->BeginBulk();  // nested: only the outermost end flushes
      ASSERT_TRUE(s->EndBulk().ok());
    }
  }
  ASSERT_TRUE(s->EndBulk().ok());
  ExpectMapsEqualModel(*s);
  // Outside a bulk every change is in the kernel when it returns, as before.
  ASSERT_TRUE(s->AddPolicy(999, "", LabelSelector{}, std::nullopt, std::nullopt).ok());
  ExpectMapsEqualModel(*s);
}

// Deferred mode (the daemon's): changes return without writing the outer
// maps; a background thread writes them in batches. After WaitMapsWritten
// the kernel maps equal the model, whatever happened in between (random
// adds, deletes, pod changes, resizes), and a deleted policy's entry is gone.
TEST(FilterMapsBulkRootTest, DeferredWritesCatchUpWithTheModel) {
  SKIP_UNLESS_ROOT();
  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  auto s = NewState(dir, /*deferred=*/true);
  ASSERT_NE(s, nullptr);
  std::mt19937 rng(4141);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  std::set<uint32_t> live;
  const uint64_t before = s->outer_map_writes();
  int changes = 0;
  for (int step = 0; step < 800; ++step) {
    int op = pick(10);
    std::string app = absl::StrCat("app", pick(12));
    if (op < 5) {
      uint32_t id = 100 + pick(300);
      absl::Status st = s->AddPolicy(id, "", pick(8) == 0 ? LabelSelector{} : App(app), std::nullopt,
                                     std::nullopt);
      ASSERT_TRUE(st.ok() || absl::IsAlreadyExists(st)) << st;
      live.insert(id);
    } else if (op < 7 && !live.empty()) {
      uint32_t id = *std::next(live.begin(), pick(live.size()));
      ASSERT_TRUE(s->DelPolicy(id).ok());
      live.erase(id);
    } else if (op < 9) {
      uint64_t cg = 8000 + pick(30);
      ASSERT_TRUE(s->UpdatePod({absl::StrCat("pod", cg), "p", "default", {{"app", app}}},
                               {{absl::StrCat("c", cg), "main", "", cg, ""}})
                      .ok());
    } else {
      ASSERT_TRUE(s->DelPod(absl::StrCat("pod", 8000 + pick(30))).ok());
    }
    ++changes;
    if (step % 200 == 199) {
      s->WaitMapsWritten();
      ExpectMapsEqualModel(*s);
    }
  }
  s->WaitMapsWritten();
  ExpectMapsEqualModel(*s);
  EXPECT_LT(s->outer_map_writes() - before, static_cast<uint64_t>(changes));
  ASSERT_FALSE(live.empty());
  uint32_t gone = *live.begin();
  ASSERT_TRUE(s->DelPolicy(gone).ok());
  s->WaitMapsWritten();
  uint32_t inner_id = 0;
  EXPECT_NE(bpf_map_lookup_elem(s->policy_filter_maps_fd(), &gone, &inner_id), 0);
  ExpectMapsEqualModel(*s);
}

}  // namespace
}  // namespace tgd
