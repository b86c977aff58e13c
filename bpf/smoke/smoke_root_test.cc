// Root test: the Bazel BPF toolchain yields a skeleton that loads, attaches
// and counts this process's syscalls.
#include <unistd.h>

#include "bpf/smoke/smoke.skel.h"
#include "gtest/gtest.h"
#include "sensor/bpfcore/bpf_owners.h"

namespace tgd {
namespace {

TEST(SmokeRootTest, SkeletonLoadsAttachesAndCounts) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
  InstallLibbpfLogging();
  Skeleton<smoke> skel(smoke::open());
  ASSERT_NE(skel, nullptr);
  skel->rodata->target_tgid = getpid();
  ASSERT_EQ(smoke::load(skel.get()), 0);
  ASSERT_EQ(smoke::attach(skel.get()), 0);
  for (int i = 0; i < 100; ++i) getppid();
  EXPECT_GE(skel->bss->hits, 100u);
}

}  // namespace
}  // namespace tgd
