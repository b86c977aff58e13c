#include "sensor/stacks/symbolizer.h"

#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace {

// A function of this binary the user-stack lookups must name.
extern "C" __attribute__((noinline)) int tgd_symbolizer_test_target(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}

}  // namespace

namespace tgd {
namespace {

std::string WriteTemp(const std::string& content) {
  std::string path = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/kallsyms." +
                     std::to_string(getpid());
  std::ofstream(path) << content;
  return path;
}

TEST(KernelSymbols, NearestFunctionAndOffset) {
  std::string f = WriteTemp(
      "ffffffff81000000 T _stext\n"
      "ffffffff81001000 t do_syscall_64\n"
      "ffffffff81002000 D some_data\n"
      "ffffffff81003000 W weak_fn\t[mod]\n");
  absl::StatusOr<KernelSymbols> k = KernelSymbols::Load(f);
  ASSERT_TRUE(k.ok()) << k.status();
  std::optional<StackFrame> fr = k->Lookup(0xffffffff81001010);
  ASSERT_TRUE(fr.has_value());
  EXPECT_EQ(fr->symbol, "do_syscall_64");
  EXPECT_EQ(fr->offset, 0x10u);
  EXPECT_EQ(fr->address, 0u);  // Tetragon shows addresses only when asked
  EXPECT_FALSE(k->Lookup(0xffffffff81002004).has_value());  // data symbol: skipped, as Tetragon
  EXPECT_FALSE(k->Lookup(0xffffffff80000000).has_value());  // before the first symbol
  EXPECT_EQ(k->Lookup(0xffffffff81003001)->symbol, "weak_fn");
}

TEST(KernelSymbols, HiddenAddressesAreAnError) {
  std::string f = WriteTemp("0000000000000000 T _stext\n0000000000000000 t do_syscall_64\n");
  absl::StatusOr<KernelSymbols> k = KernelSymbols::Load(f);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kFailedPrecondition) << k.status();
  EXPECT_EQ(KernelSymbols::Load("/nonexistent/kallsyms").status().code(), absl::StatusCode::kNotFound);
}

TEST(Symbolizer, KernelFramesFromAFile) {
  std::string f = WriteTemp("ffffffff81000000 T _stext\nffffffff81001000 t entry_SYSCALL_64\n");
  Symbolizer s({.kallsyms = f, .expose_addresses = true});
  uint64_t ips[] = {0xffffffff81001004, 0, 0xffffffff81000001};
  std::vector<StackFrame> out = s.Kernel(ips, 3);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].symbol, "entry_SYSCALL_64");
  EXPECT_EQ(out[0].offset, 4u);
  EXPECT_EQ(out[0].address, 0xffffffff81001004u);
  EXPECT_EQ(out[1].symbol, "_stext");
}

TEST(Symbolizer, UserFrameNamesAFunctionOfThisBinary) {
  ASSERT_EQ(tgd_symbolizer_test_target(1), 4);
  char self[PATH_MAX];
  ASSERT_NE(realpath("/proc/self/exe", self), nullptr);
  Symbolizer s;
  uint64_t ips[] = {reinterpret_cast<uint64_t>(&tgd_symbolizer_test_target) + 1, 0, 8 /* unmapped */};
  std::vector<StackFrame> out = s.User(getpid(), ips, 3);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].symbol, "tgd_symbolizer_test_target");
  EXPECT_EQ(out[0].module, self);
  EXPECT_GT(out[0].offset, 0u);
  EXPECT_EQ(out[0].address, 0u);
}

TEST(Symbolizer, ModuleCacheIsBounded) {
  Symbolizer s({.max_modules = 1});
  uint64_t own = reinterpret_cast<uint64_t>(&tgd_symbolizer_test_target);
  uint64_t libc = reinterpret_cast<uint64_t>(&::abort);
  uint64_t ips[] = {own, libc, own, libc};
  std::vector<StackFrame> out = s.User(getpid(), ips, 4);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].symbol, "tgd_symbolizer_test_target");
  EXPECT_EQ(out[2].symbol, "tgd_symbolizer_test_target");
  EXPECT_EQ(out[1].symbol, "abort");
  EXPECT_NE(out[1].module.find("libc"), std::string::npos) << out[1].module;
  EXPECT_EQ(s.cached_modules(), 1u);
}

TEST(Symbolizer, GoneProcessHasNoFrames) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  Symbolizer s;
  uint64_t ips[] = {reinterpret_cast<uint64_t>(&tgd_symbolizer_test_target)};
  EXPECT_TRUE(s.User(child, ips, 1).empty());
}

}  // namespace
}  // namespace tgd
