// generated_ftrace lists: pattern over available_filter_functions as
// Tetragon reads it, and hooks over such a list expanded one per function.
#include "sensor/loader/ftrace_list.h"

#include "compat/policy/lists.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

constexpr char kFuncs[] = "vfs_write\nvfs_read\nvfs_read\n__ftrace_invalid_address___123\nksys_read\n"
                          "vfs_open [some_module]\nvfs_module_func\n";

TEST(FtraceListTest, PatternSelectsVmlinuxFunctionsSortedOnce) {
  policy::ListSpec l;
  l.name = "vfs";
  l.type = "generated_ftrace";
  l.pattern = "^vfs_";
  auto f = MatchFtraceFunctions(l, kFuncs);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*f, (std::vector<std::string>{"vfs_read", "vfs_write"}));  // module lines and after: dropped
  l.pattern = "^nothing$";
  EXPECT_EQ(MatchFtraceFunctions(l, kFuncs).status().code(), absl::StatusCode::kInvalidArgument);
  l.pattern = "(";
  EXPECT_EQ(MatchFtraceFunctions(l, kFuncs).status().code(), absl::StatusCode::kInvalidArgument);
  l.pattern.reset();
  EXPECT_EQ(MatchFtraceFunctions(l, kFuncs).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FtraceListTest, HooksOverListsExpandOnePerElement) {
  auto p = policy::ParsePolicy(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: t
spec:
  lists:
  - name: dups
    type: syscalls
    values: [sys_dup, i386/sys_dup2]
  - name: vfs
    type: generated_ftrace
    pattern: "^vfs_"
  - name: plain
    values: [fd_install, security_file_open]
  kprobes:
  - call: list:dups
    syscall: false
  - call: list:vfs
    syscall: false
  - call: list:plain
    syscall: false
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
)");
  ASSERT_TRUE(p.ok()) << p.status();
  auto hooks = policy::ExpandHookLists(*p, [](const policy::ListSpec& l) { return MatchFtraceFunctions(l, kFuncs); });
  ASSERT_TRUE(hooks.ok()) << hooks.status();
  std::vector<std::string> calls;
  for (const policy::Hook& h : *hooks) calls.push_back(h.kind == policy::HookKind::kTracepoint ? "tp" : h.call);
  EXPECT_EQ(calls, (std::vector<std::string>{"__x64_sys_dup", "__ia32_sys_dup2", "vfs_read", "vfs_write", "fd_install",
                                             "security_file_open", "tp"}));
  EXPECT_TRUE((*hooks)[0].syscall);   // a syscalls list makes its hooks syscall hooks
  EXPECT_FALSE((*hooks)[2].syscall);
  EXPECT_EQ((*hooks)[1].path, "spec.kprobes[0]");
}

TEST(FtraceListTest, ExpansionIsBounded) {
  auto p = policy::ParsePolicy(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: t
spec:
  lists:
  - name: all
    type: generated_ftrace
    pattern: "."
  kprobes:
  - call: list:all
    syscall: false
)");
  ASSERT_TRUE(p.ok()) << p.status();
  auto many = [](const policy::ListSpec&) -> absl::StatusOr<std::vector<std::string>> {
    return std::vector<std::string>(policy::kMaxExpandedHooks + 1, "f");
  };
  auto hooks = policy::ExpandHookLists(*p, many);
  EXPECT_EQ(hooks.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(hooks.status().message().find("spec.kprobes[0].call"), std::string::npos) << hooks.status();
}

}  // namespace
}  // namespace tgd
