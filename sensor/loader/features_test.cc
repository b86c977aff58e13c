// Tests of the feature table's uses that need no kernel: the refusal of a
// policy field on an unavailable hook kind, and the table's renderings.
#include "sensor/loader/features.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

KernelFeatures NoLsm() {
  FeatureProbe lsm;
  lsm.feature = HookFeature::kLsm;
  lsm.available = false;
  lsm.target = "lsm/file_open";
  lsm.stage = "load";
  lsm.err = 1;
  lsm.reason = "loading an lsm program: EPERM (Operation not permitted)";
  return KernelFeatures::ForTesting({lsm});
}

TEST(FeaturesTest, RefusesAnUnavailableKindNamingTheFieldAndTheKernelsReason) {
  KernelFeatures f = NoLsm();
  absl::Status s = CheckHookSupported(f, HookFeature::kLsm, "spec.lsmhooks[0]");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "spec.lsmhooks[0]: this kernel cannot run lsm programs: loading an lsm program: EPERM (Operation not "
            "permitted)");
  EXPECT_TRUE(CheckHookSupported(f, HookFeature::kTracepoint, "spec.tracepoints[0]").ok());
}

TEST(FeaturesTest, ListsWhatIsUnavailable) {
  KernelFeatures f = NoLsm();
  ASSERT_EQ(f.Unavailable().size(), 1u);
  EXPECT_EQ(f.Unavailable()[0], "lsm: loading an lsm program: EPERM (Operation not permitted)");
  EXPECT_EQ(f.All().size(), static_cast<size_t>(kNumHookFeatures));
  for (int i = 0; i < kNumHookFeatures; ++i) EXPECT_EQ(static_cast<int>(f.All()[i].feature), i);
}

TEST(FeaturesTest, TableHasOneRowPerKind) {
  std::string table = NoLsm().FormatTable();
  for (const char* kind : {"tracepoint", "raw_tracepoint", "tp_btf", "kprobe", "kretprobe", "uprobe", "uretprobe",
                           "lsm", "fentry", "fexit"}) {
    EXPECT_TRUE(absl::StrContains(table, absl::StrCat("\n", kind, " "))) << kind << " in\n" << table;
  }
  EXPECT_TRUE(absl::StrContains(table, "lsm             no        lsm/file_open")) << table;
}

TEST(FeaturesTest, JsonNamesTheErrno) {
  std::string json = NoLsm().FormatJson();
  EXPECT_TRUE(absl::StrContains(json, R"({"kind": "tracepoint", "available": true, )")) << json;
  EXPECT_TRUE(absl::StrContains(
      json, R"j({"kind": "lsm", "available": false, "target": "lsm/file_open", "stage": "load", "errno": 1, )j"
            R"j("error": "EPERM", "reason": "loading an lsm program: EPERM (Operation not permitted)"})j"))
      << json;
  EXPECT_EQ(json.substr(0, 14), "{\"features\": [");
  EXPECT_EQ(json.substr(json.size() - 3), "]}\n");
}

}  // namespace
}  // namespace tgd
