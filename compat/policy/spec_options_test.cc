#include "compat/policy/spec_options.h"

#include <gtest/gtest.h>

namespace tgd::policy {
namespace {

TracingPolicy With(std::vector<std::pair<std::string, std::string>> opts) {
  TracingPolicy p;
  p.options = std::move(opts);
  return p;
}

TEST(SpecOptions, EveryTetragonOptionParses) {
  absl::StatusOr<SpecOptions> o = ParseSpecOptions(With({{"disable-kprobe-multi", "true"},
                                                         {"disable-uprobe-multi", "0"},
                                                         {"override-method", "fmod-ret"},
                                                         {"policy-mode", "monitor"},
                                                         {"sleepable-preload-size", "64"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->disable_kprobe_multi);
  EXPECT_FALSE(o->disable_uprobe_multi);
  EXPECT_EQ(o->override_method, "fmod-ret");
  EXPECT_EQ(o->policy_mode, "monitor");
  EXPECT_EQ(o->sleepable_preload_size, 64);
}

TEST(SpecOptions, NoOptionsIsTheDefault) {
  absl::StatusOr<SpecOptions> o = ParseSpecOptions(With({}));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->policy_mode, "");
  EXPECT_FALSE(o->disable_kprobe_multi);
}

TEST(SpecOptions, BadValuesNameTheOption) {
  struct Case {
    std::string name, value, want;
  } cases[] = {
      {"disable-kprobe-multi", "yes", "spec.options[0].value: option \"disable-kprobe-multi\": \"yes\" is not a boolean"},
      {"override-method", "kprobe", "spec.options[0].value: option \"override-method\""},
      {"policy-mode", "Enforce", "is not a mode"},
      {"sleepable-preload-size", "0", "must be positive"},
      {"sleepable-preload-size", "x", "is not an integer"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SpecOptions> o = ParseSpecOptions(With({{c.name, c.value}}));
    ASSERT_FALSE(o.ok()) << c.name << "=" << c.value;
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(o.status().message().find(c.want), std::string::npos) << o.status();
  }
}

TEST(SpecOptions, UnknownOptionIsRefusedByName) {
  absl::StatusOr<SpecOptions> o = ParseSpecOptions(With({{"policy-mode", "enforce"}, {"fast-path", "1"}}));
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("spec.options[1].name: \"fast-path\" is not an option Tetragon defines"),
            std::string::npos)
      << o.status();
}

TEST(SpecOptions, GoBools) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) EXPECT_EQ(ParseGoBool(t), true) << t;
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) EXPECT_EQ(ParseGoBool(f), false) << f;
  for (const char* x : {"", "yes", "tRUE", "2"}) EXPECT_EQ(ParseGoBool(x), std::nullopt) << x;
}

}  // namespace
}  // namespace tgd::policy
