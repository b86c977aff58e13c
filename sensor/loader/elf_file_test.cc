// ParseUsdtArgs on crafted stapsdt argument strings: every operand form the
// datapath reads, and the refusals of the others.
#include "sensor/loader/elf_file.h"

#include <sys/user.h>

#include <cstddef>

#include "bpf/dispatch/dispatch_abi.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

#if defined(__x86_64__)
constexpr int kRax = offsetof(user_regs_struct, rax);
constexpr int kRdx = offsetof(user_regs_struct, rdx);
constexpr int kRsp = offsetof(user_regs_struct, rsp);
constexpr int kRbp = offsetof(user_regs_struct, rbp);
constexpr int kR12 = offsetof(user_regs_struct, r12);

TEST(ParseUsdtArgsTest, RegistersMemoryAndConstants) {
  auto a = ParseUsdtArgs("-4@%eax 8@-8(%rbp) 2@$-5 -8@%r12 1@(%rsp)", "f");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 5u);
  EXPECT_EQ((*a)[0].spec, TGD_USDT_SPEC(kRax, 1, 2, 1));
  EXPECT_EQ((*a)[1].spec, TGD_USDT_SPEC(kRbp, 2, 3, 0));
  EXPECT_EQ(static_cast<int32_t>((*a)[1].value), -8);
  EXPECT_EQ((*a)[2].spec, TGD_USDT_SPEC(0, 3, 1, 0));
  EXPECT_EQ(static_cast<int32_t>((*a)[2].value), -5);
  EXPECT_EQ((*a)[3].spec, TGD_USDT_SPEC(kR12, 1, 3, 1));
  EXPECT_EQ((*a)[4].spec, TGD_USDT_SPEC(kRsp, 2, 0, 0));
  EXPECT_EQ((*a)[4].value, 0u);
}

// Tetragon's four forms with an index register: disp(%b,%i,s), (%b,%i,s),
// disp(%b,%i), (%b,%i).
TEST(ParseUsdtArgsTest, IndexRegisterForms) {
  auto a = ParseUsdtArgs("-4@48(%rsp,%rdx,4) 1@(%rbp,%rax,8) -2@-96(%rbp,%rax) 8@(%rsp,%rdx)", "f");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 4u);
  const UsdtArgSpec& s0 = (*a)[0];
  EXPECT_EQ(s0.spec, TGD_USDT_SPEC_SIB(kRsp, 2, 1, 2));
  EXPECT_EQ(TGD_USDT_KIND(s0.spec), 2u);
  EXPECT_EQ(TGD_USDT_SIB(s0.spec), 1u);
  EXPECT_EQ(TGD_USDT_SCALE_LOG2(s0.spec), 2u);
  EXPECT_EQ(TGD_USDT_SIB_DISP(s0.value), 48);
  EXPECT_EQ(TGD_USDT_SIB_IDX_OFF(s0.value), static_cast<uint32_t>(kRdx));
  EXPECT_EQ((*a)[1].spec, TGD_USDT_SPEC_SIB(kRbp, 0, 0, 3));
  EXPECT_EQ(TGD_USDT_SIB_DISP((*a)[1].value), 0);
  EXPECT_EQ(TGD_USDT_SIB_IDX_OFF((*a)[1].value), static_cast<uint32_t>(kRax));
  EXPECT_EQ((*a)[2].spec, TGD_USDT_SPEC_SIB(kRbp, 1, 1, 0));
  EXPECT_EQ(TGD_USDT_SIB_DISP((*a)[2].value), -96);
  EXPECT_EQ((*a)[3].spec, TGD_USDT_SPEC_SIB(kRsp, 3, 0, 0));
  // An operand without an index register keeps the plain form.
  EXPECT_EQ(TGD_USDT_SIB((*ParseUsdtArgs("8@-8(%rbp)", "f"))[0].spec), 0u);
}

TEST(ParseUsdtArgsTest, RefusalsNameTheField) {
  // A segment: not read (Tetragon does not either).
  auto s = ParseUsdtArgs("-4@%fs:-8", "spec.usdts[0]: USDT p:n");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.status().message().find("spec.usdts[0]"), std::string::npos) << s.status();
  EXPECT_NE(s.status().message().find("segment"), std::string::npos) << s.status();
  // A bad scale, an unknown index register, rip as index, too many parts.
  EXPECT_EQ(ParseUsdtArgs("4@8(%rsp,%rdx,3)", "f").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseUsdtArgs("4@8(%rsp,%xmm0,4)", "f").status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ParseUsdtArgs("4@8(%rsp,%rip,4)", "f").status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ParseUsdtArgs("4@8(%rsp,%rdx,4,1)", "f").status().code(), absl::StatusCode::kInvalidArgument);
  // A displacement that does not fit the 24 bits kept with an index register.
  EXPECT_EQ(ParseUsdtArgs("4@16777216(%rsp,%rdx,4)", "f").status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(ParseUsdtArgs("4@-8388608(%rsp,%rdx,4)", "f").ok());
  // No size, a size that is not 1, 2, 4 or 8.
  EXPECT_EQ(ParseUsdtArgs("%eax", "f").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseUsdtArgs("3@%eax", "f").status().code(), absl::StatusCode::kInvalidArgument);
}
#endif

}  // namespace
}  // namespace tgd
