// Root test of the feature probes on this kernel: every kind gets an answer
// from the kernel itself, cached per process, and the answer does not depend
// on whether securityfs is mounted (the old guess read
// /sys/kernel/security/lsm, which lists "bpf" on kernels that still refuse
// LSM programs).
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sensor/loader/features.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

constexpr char kSecurityfs[] = "/sys/kernel/security";

bool SecurityfsMounted() {
  struct statfs st;
  return statfs(kSecurityfs, &st) == 0 && st.f_type == SECURITYFS_MAGIC;
}

std::string Summary(const KernelFeatures& f) {
  std::string out;
  for (const FeatureProbe& p : f.All()) {
    absl::StrAppend(&out, HookFeatureName(p.feature), "=", p.available ? "yes" : "no", "/", p.stage, "/", p.err,
                    "\n");
  }
  return out;
}

TEST(FeaturesRootTest, EveryKindHasTheKernelsAnswer) {
  if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
  const KernelFeatures& f = KernelFeatures::Get();
  std::cout << f.FormatTable();
  EXPECT_EQ(&f, &KernelFeatures::Get());  // probed once per process
  ASSERT_EQ(f.All().size(), static_cast<size_t>(kNumHookFeatures));
  for (const FeatureProbe& p : f.All()) {
    SCOPED_TRACE(HookFeatureName(p.feature));
    EXPECT_FALSE(p.target.empty());
    if (p.available) {
      EXPECT_TRUE(p.reason.empty()) << p.reason;
      continue;
    }
    EXPECT_TRUE(p.stage == "load" || p.stage == "attach" || p.stage == "run") << p.stage;
    EXPECT_FALSE(p.reason.empty());
    EXPECT_FALSE(absl::StrContains(p.reason, "ulimit")) << p.reason;
    if (p.stage == "load") {
      EXPECT_GT(p.err, 0);
      EXPECT_TRUE(absl::StartsWith(p.reason, "loading a")) << p.reason;
    }
  }
  // The sensor's own base needs raw tracepoints: a root test machine without
  // them could not run any other root test either.
  EXPECT_TRUE(f.Has(HookFeature::kRawTracepoint)) << f.Of(HookFeature::kRawTracepoint).reason;
  // A fresh probe agrees with the cached one.
  EXPECT_EQ(Summary(KernelFeatures::ProbeNow()), Summary(f));
}

// What Set on usdts needs: the kernel's answer for a uprobe program writing
// user memory and one storing to its registers. Under lockdown (integrity or
// confidentiality) bpf_probe_write_user is refused, whatever else the kernel
// allows.
TEST(FeaturesRootTest, UprobeWriteProbesHaveTheKernelsAnswer) {
  if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
  const KernelFeatures& f = KernelFeatures::Get();
  for (const FeatureProbe* p : {&f.UprobeWriteUser(), &f.UprobeWriteRegs()}) {
    SCOPED_TRACE(p->target);
    std::cout << p->target << ": " << (p->available ? "yes" : p->reason) << "\n";
    if (p->available) continue;
    EXPECT_EQ(p->stage, "load");
    EXPECT_GT(p->err, 0);
    EXPECT_TRUE(absl::StartsWith(p->reason, "loading a uprobe program that ")) << p->reason;
    EXPECT_FALSE(absl::StrContains(p->reason, "processed ")) << "a statistics line, not the reason: " << p->reason;
  }
  std::ifstream lockdown(std::string(kSecurityfs) + "/lockdown");
  std::string mode;
  if (lockdown && std::getline(lockdown, mode) &&
      (absl::StrContains(mode, "[integrity]") || absl::StrContains(mode, "[confidentiality]"))) {
    EXPECT_FALSE(f.UprobeWriteUser().available) << "lockdown: " << mode;
  }
}

TEST(FeaturesRootTest, SameAnswerWithSecurityfsMountedAndNot) {
  if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
  struct stat st;
  if (stat(kSecurityfs, &st) != 0) GTEST_SKIP() << kSecurityfs << " does not exist (no CONFIG_SECURITYFS)";
  const bool was_mounted = SecurityfsMounted();
  const std::string before = Summary(KernelFeatures::ProbeNow());
  // Flip the mount for the length of one probe, and put it back whatever
  // happens.
  if (was_mounted) {
    if (umount2(kSecurityfs, 0) != 0) {
      GTEST_SKIP() << "cannot unmount securityfs to compare (" << strerror(errno) << "); left as it was";
    }
  } else if (mount("securityfs", kSecurityfs, "securityfs", 0, nullptr) != 0) {
    GTEST_SKIP() << "cannot mount securityfs to compare (" << strerror(errno) << ")";
  }
  absl::Cleanup restore = [&] {
    bool ok = was_mounted ? mount("securityfs", kSecurityfs, "securityfs", 0, nullptr) == 0
                          : umount2(kSecurityfs, 0) == 0;
    EXPECT_TRUE(ok) << "restoring securityfs (" << (was_mounted ? "mounted" : "not mounted")
                    << "): " << strerror(errno);
    EXPECT_EQ(SecurityfsMounted(), was_mounted);
  };
  ASSERT_NE(SecurityfsMounted(), was_mounted);
  std::string lsm_list;
  if (std::ifstream in(absl::StrCat(kSecurityfs, "/lsm")); in) {
    std::stringstream ss;
    ss << in.rdbuf();
    lsm_list = ss.str();
  }
  const KernelFeatures flipped = KernelFeatures::ProbeNow();
  std::cout << "securityfs " << (was_mounted ? "unmounted" : "mounted") << " (active LSMs: "
            << (lsm_list.empty() ? "(unreadable)" : lsm_list) << ")\n"
            << flipped.FormatTable();
  EXPECT_EQ(Summary(flipped), before) << "the probe's answer depends on the securityfs mount";
}

}  // namespace
}  // namespace tgd
