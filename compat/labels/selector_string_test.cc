// Tests of the Kubernetes selector string parser.
#include "compat/labels/selector_string.h"

#include "gtest/gtest.h"

namespace tgd::labels {
namespace {

bool M(const char* sel, const Labels& l) {
  auto s = ParseSelectorString(sel);
  EXPECT_TRUE(s.ok()) << sel << ": " << s.status();
  return s.ok() && Matches(*s, l);
}

TEST(SelectorStringTest, Semantics) {
  Labels l = {{"app", "a"}, {"tier", "web"}};
  EXPECT_TRUE(M("app=a", l));
  EXPECT_TRUE(M("app==a", l));
  EXPECT_FALSE(M("app=b", l));
  EXPECT_TRUE(M("app!=b", l));
  EXPECT_FALSE(M("app!=a", l));
  EXPECT_TRUE(M("app in (b, a)", l));
  EXPECT_FALSE(M("app notin (a)", l));
  EXPECT_TRUE(M("tier", l));
  EXPECT_TRUE(M("!zone", l));
  EXPECT_FALSE(M("!app", l));
  EXPECT_TRUE(M("app=a, tier in (web,db)", l));
  EXPECT_FALSE(M("app=a,tier=db", l));
  EXPECT_TRUE(M("", l));
  EXPECT_TRUE(M("k8s.io/app-name!=x", l));
}

TEST(SelectorStringTest, Errors) {
  for (const char* bad : {"app in (a", "app in ()", ",", "app foo (a)", "a b"}) {
    auto s = ParseSelectorString(bad);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace tgd::labels
