// matchArgs index resolution: tracepoints take a field index or a position
// (Tetragon's rewrite, chaining included); other hooks take declared indices.
#include "compat/policy/arg_index.h"

#include <string>

#include "gtest/gtest.h"

namespace tgd::policy {
namespace {

std::string Tracepoint(const std::string& args, int match_index) {
  return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
         "  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n    args:\n" +
         args + "    selectors:\n    - matchArgs:\n      - index: " + std::to_string(match_index) +
         "\n        operator: Equal\n        values: ['1']\n";
}

TEST(ArgIndexTest, KillerYamlShapeParses) {
  // Tetragon's examples/tracingpolicy/killer.yaml: field 4 declared, matchArgs index 0 = position 0.
  auto p = ParsePolicy(Tracepoint("    - index: 4\n      type: syscall64\n", 0));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(MatchArgPosition(p->hooks[0], 0), 0);
  EXPECT_EQ(MatchArgPosition(p->hooks[0], 4), 0);  // the field index names it too
  EXPECT_EQ(MatchArgPosition(p->hooks[0], 1), -1);
}

TEST(ArgIndexTest, FieldIndexOrPositionAsUpstream) {
  std::vector<ArgSpec> args(2);
  args[0].index = 5;
  args[1].index = 6;
  EXPECT_EQ(RewriteTracepointMatchIndex(args, 5), 0);
  EXPECT_EQ(RewriteTracepointMatchIndex(args, 6), 1);
  EXPECT_EQ(RewriteTracepointMatchIndex(args, 1), 1);  // a position already
  EXPECT_EQ(RewriteTracepointMatchIndex(args, 7), 7);  // neither: refused by the caller
  // Upstream's rewrite runs arg by arg, so rewrites chain: field 1 becomes
  // position 0, which is then arg 1's field index and becomes position 1.
  args[0].index = 1;
  args[1].index = 0;
  EXPECT_EQ(RewriteTracepointMatchIndex(args, 1), 1);
  EXPECT_EQ(RewriteTracepointMatchIndex(args, 0), 1);
}

TEST(ArgIndexTest, UndeclaredIndexIsNamed) {
  auto p = ParsePolicy(Tracepoint("    - index: 4\n      type: syscall64\n", 2));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("spec.tracepoints[0].selectors[0].matchArgs[0].index: argument index 2 is "
                                      "not declared in args (declared: 4; or a position below 1)"),
            std::string::npos)
      << p.status();
}

TEST(ArgIndexTest, KprobesLookUpDeclaredIndicesOnly) {
  auto p = ParsePolicy(
      "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
      "  kprobes:\n  - call: fd_install\n    syscall: false\n    args:\n    - index: 1\n      type: int\n"
      "    selectors:\n    - matchArgs:\n      - index: 0\n        operator: Equal\n        values: ['1']\n");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("argument index 0 is not declared in args (declared: 1)"), std::string::npos)
      << p.status();
}

}  // namespace
}  // namespace tgd::policy
