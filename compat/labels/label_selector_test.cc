// Table tests of Kubernetes label selector semantics.
#include "compat/labels/label_selector.h"

#include "gtest/gtest.h"

namespace tgd::labels {
namespace {

struct Case {
  const char* name;
  LabelSelector selector;
  Labels labels;
  bool want;
};

TEST(LabelSelectorTest, Semantics) {
  const Labels ab = {{"app", "a"}, {"tier", "web"}};
  const Case cases[] = {
      {"empty selects all", {}, ab, true},
      {"empty selects unlabeled", {}, {}, true},
      {"matchLabels hit", {{{"app", "a"}}, {}}, ab, true},
      {"matchLabels wrong value", {{{"app", "b"}}, {}}, ab, false},
      {"matchLabels missing key", {{{"x", "a"}}, {}}, ab, false},
      {"matchLabels all required", {{{"app", "a"}, {"tier", "db"}}, {}}, ab, false},
      {"In hit", {{}, {{"app", Operator::kIn, {"b", "a"}}}}, ab, true},
      {"In miss", {{}, {{"app", Operator::kIn, {"b"}}}}, ab, false},
      {"In absent key", {{}, {{"zz", Operator::kIn, {"a"}}}}, ab, false},
      {"NotIn hit", {{}, {{"app", Operator::kNotIn, {"a"}}}}, ab, false},
      {"NotIn miss", {{}, {{"app", Operator::kNotIn, {"b"}}}}, ab, true},
      {"NotIn absent key", {{}, {{"zz", Operator::kNotIn, {"a"}}}}, ab, true},
      {"Exists", {{}, {{"tier", Operator::kExists, {}}}}, ab, true},
      {"Exists absent", {{}, {{"zz", Operator::kExists, {}}}}, ab, false},
      {"DoesNotExist", {{}, {{"zz", Operator::kDoesNotExist, {}}}}, ab, true},
      {"DoesNotExist present", {{}, {{"app", Operator::kDoesNotExist, {}}}}, ab, false},
      {"labels and expressions ANDed",
       {{{"app", "a"}}, {{"tier", Operator::kIn, {"db"}}}}, ab, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Matches(c.selector, c.labels), c.want) << c.name;
  }
}

TEST(LabelSelectorTest, ValidateNamesTheEntry) {
  LabelSelector s;
  s.match_expressions = {{"app", Operator::kIn, {"a"}}, {"x", Operator::kIn, {}}};
  absl::Status st = Validate(s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("matchExpressions[1].values"), std::string::npos) << st;
  s.match_expressions = {{"x", Operator::kExists, {"v"}}};
  EXPECT_FALSE(Validate(s).ok());
  s.match_expressions = {{"", Operator::kExists, {}}};
  EXPECT_FALSE(Validate(s).ok());
  s.match_expressions = {{"x", Operator::kDoesNotExist, {}}};
  EXPECT_TRUE(Validate(s).ok());
}

TEST(LabelSelectorTest, OperatorNamesRoundTrip) {
  for (Operator op : {Operator::kIn, Operator::kNotIn, Operator::kExists, Operator::kDoesNotExist}) {
    Operator parsed;
    ASSERT_TRUE(ParseOperator(OperatorName(op), &parsed));
    EXPECT_EQ(parsed, op);
  }
  Operator parsed;
  EXPECT_FALSE(ParseOperator("in", &parsed));
}

}  // namespace
}  // namespace tgd::labels
