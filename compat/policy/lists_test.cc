// spec.lists: syscall values to ids and symbols as Tetragon reads them, and
// InMap/NotInMap "list:NAME" values checked and resolved by the parser.
#include "compat/policy/lists.h"

#include <sys/syscall.h>

#include <algorithm>
#include <string>

#include "gtest/gtest.h"

namespace tgd::policy {
namespace {

TEST(ListsTest, SyscallValuesToIds) {
  EXPECT_EQ(*SyscallId("sys_dup"), static_cast<uint32_t>(SYS_dup));
  EXPECT_EQ(*SyscallId("dup"), static_cast<uint32_t>(SYS_dup));
  EXPECT_EQ(*SyscallId("__x64_sys_dup2"), static_cast<uint32_t>(SYS_dup2));
  EXPECT_EQ(*SyscallId("x64/sys_openat"), static_cast<uint32_t>(SYS_openat));
  EXPECT_EQ(*SyscallId("__ia32_sys_dup"), 41u | kIs32Bit);  // i386 dup is 41
  EXPECT_EQ(*SyscallId("i386/sys_dup"), 41u | kIs32Bit);
  EXPECT_FALSE(SyscallId("sys_no_such_call").ok());
  absl::StatusOr<uint32_t> bad_abi = SyscallId("arm64/__x64_sys_dup");
  ASSERT_FALSE(bad_abi.ok());
  EXPECT_EQ(bad_abi.status().message(), "invalid ABI (arm64) for arch (amd64)");
  EXPECT_FALSE(SyscallId("a/b/c").ok());
}

TEST(ListsTest, SyscallValuesToSymbols) {
  EXPECT_EQ(*SyscallSymbol("sys_dup"), "__x64_sys_dup");
  EXPECT_EQ(*SyscallSymbol("__ia32_sys_dup"), "__ia32_sys_dup");
  EXPECT_EQ(*SyscallSymbol("i386/sys_dup"), "__ia32_sys_dup");
  EXPECT_FALSE(SyscallSymbol("dup").ok());  // neither sys_ nor a prefix, as upstream
}

TEST(ListsTest, GeneratedSyscallsListsEverySyscall) {
  ListSpec l;
  l.name = "all";
  l.type = "generated_syscalls";
  auto v = ListValues(l);
  ASSERT_TRUE(v.ok());
  EXPECT_GT(v->size(), 300u);
  EXPECT_NE(std::find(v->begin(), v->end(), "sys_openat"), v->end());
  auto ids = SyscallListIds(l);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->size(), v->size());
  l.type = "generated_ftrace";
  EXPECT_EQ(ListValues(l).status().code(), absl::StatusCode::kFailedPrecondition);
}

std::string RawSyscalls(const std::string& list_type, const std::string& arg_type) {
  return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
         "  lists:\n  - name: dups\n    type: " + list_type +
         "\n    values: [sys_dup, sys_dup2, __ia32_sys_dup]\n"
         "  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n    args:\n    - index: 4\n"
         "      type: " + arg_type +
         "\n    selectors:\n    - matchArgs:\n      - index: 0\n        operator: InMap\n"
         "        values: [\"list:dups\", \"60\"]\n";
}

TEST(ListsTest, InMapListsResolveToIds) {
  auto p = ParsePolicy(RawSyscalls("syscalls", "syscall64"));
  ASSERT_TRUE(p.ok()) << p.status();
  const MatchArg& m = p->hooks[0].selectors[0].match_args[0];
  EXPECT_EQ(m.list_ids, (std::vector<uint32_t>{SYS_dup, SYS_dup2, 41u | kIs32Bit}));
  // Canonical form and back: the same ids.
  auto again = ParsePolicy(ToCanonicalYaml(*p));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->hooks[0].selectors[0].match_args[0].list_ids, m.list_ids);
}

TEST(ListsTest, InMapListsNeedASyscallListAndASyscall64Argument) {
  auto p = ParsePolicy(RawSyscalls("\"\"", "syscall64"));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("matchArgs[0].values[0]: list 'dups' is not syscall type"), std::string::npos)
      << p.status();
  p = ParsePolicy(RawSyscalls("syscalls", "int64"));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("list 'dups' argument type is not syscall64"), std::string::npos) << p.status();
}

}  // namespace
}  // namespace tgd::policy
