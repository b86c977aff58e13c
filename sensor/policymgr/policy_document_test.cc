// PolicyDocument is compat/policy's model plus the lifecycle's view of it:
// the same errors as the parser, the fields the manager uses, the model for
// loaders.
#include "sensor/policymgr/policy_document.h"

#include <string>

#include "gtest/gtest.h"

namespace tgd {
namespace {

TEST(PolicyDocumentModelTest, CarriesTheModelAndTheLifecycleFields) {
  const std::string yaml =
      "apiVersion: cilium.io/v1alpha1\n"
      "kind: TracingPolicyNamespaced\n"
      "metadata:\n  name: p\n  namespace: ns\n"
      "spec:\n"
      "  containerSelector:\n    matchLabels:\n      name: app\n"
      "  kprobes:\n  - call: sys_openat\n  - call: sys_close\n"
      "  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n    raw: true\n"
      "  lsmhooks:\n  - hook: file_open\n";
  auto doc = ParsePolicyDocument(yaml);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->name, "p");
  EXPECT_EQ(doc->namespace_, "ns");
  EXPECT_TRUE(doc->namespaced());
  EXPECT_TRUE(doc->scoped());
  EXPECT_TRUE(doc->has_container_selector);
  EXPECT_FALSE(doc->has_pod_selector);
  EXPECT_EQ(doc->hooks.at("kprobes"), 2);
  EXPECT_EQ(doc->hooks.at("tracepoints"), 1);
  EXPECT_EQ(doc->hooks.at("lsmhooks"), 1);
  EXPECT_EQ(doc->yaml, yaml);
  ASSERT_NE(doc->model, nullptr);
  ASSERT_EQ(doc->model->hooks.size(), 4u);
  EXPECT_EQ(doc->model->hooks[2].kind, policy::HookKind::kRawTracepoint);
}

TEST(PolicyDocumentModelTest, SameMessageAsTheParser) {
  const std::string yaml =
      "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: p\nspec:\n"
      "  kprobes:\n  - call: sys_openat\n    selectors:\n    - matchActions:\n      - action: sigkill\n";
  auto doc = ParsePolicyDocument(yaml);
  auto model = policy::ParsePolicy(yaml);
  ASSERT_FALSE(doc.ok());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(doc.status(), model.status());
  EXPECT_EQ(std::string(doc.status().message()),
            "line 10 col 17: spec.kprobes[0].selectors[0].matchActions[0].action: unknown action \"sigkill\"; "
            "did you mean \"Sigkill\"?");
}

}  // namespace
}  // namespace tgd
