// Workloads file parsing: defaults, field-naming errors, path resolution.
#include "sensor/workloads/workloads.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

using ::testing::HasSubstr;

TEST(WorkloadsTest, EmbeddedDemoHasTwoPodsWithCreatableCgroups) {
  auto pods = ParseWorkloads(kDemoWorkloadsYaml, "demo.yaml");
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0].ns, "default");
  EXPECT_EQ((*pods)[0].name, "pod-a");
  EXPECT_EQ((*pods)[0].labels, (labels::Labels{{"app", "a"}}));
  EXPECT_EQ((*pods)[1].name, "pod-b");
  EXPECT_EQ((*pods)[1].labels, (labels::Labels{{"app", "b"}}));
  for (const WorkloadPod& p : *pods) {
    ASSERT_EQ(p.containers.size(), 1u);
    EXPECT_TRUE(p.containers[0].create);
    EXPECT_EQ(p.uid, DerivedPodUid("default", p.name));
  }
}

TEST(WorkloadsTest, Defaults) {
  auto pods = ParseWorkloads(R"(
pods:
  - name: web
    containers:
      - name: nginx
        image: docker.io/library/nginx:1.25
        cgroupPath: a/b
)",
                             "f.yaml");
  ASSERT_TRUE(pods.ok()) << pods.status();
  const WorkloadPod& p = (*pods)[0];
  EXPECT_EQ(p.ns, "default");
  EXPECT_EQ(p.uid, DerivedPodUid("default", "web"));
  EXPECT_EQ(p.containers[0].id, "default-web-nginx");
  EXPECT_FALSE(p.containers[0].create);
  EXPECT_EQ(ImageRepo(p.containers[0].image), "docker.io/library/nginx");
  EXPECT_TRUE(ParseWorkloads("", "empty.yaml")->empty());
}

TEST(WorkloadsTest, DerivedUidIsStableAndUuidShaped) {
  std::string a = DerivedPodUid("default", "pod-a");
  EXPECT_EQ(a, DerivedPodUid("default", "pod-a"));
  EXPECT_NE(a, DerivedPodUid("default", "pod-b"));
  EXPECT_NE(a, DerivedPodUid("other", "pod-a"));
  EXPECT_THAT(a, ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
}

TEST(WorkloadsTest, ErrorsNameTheField) {
  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"pods: 3", "f.yaml:1: pods: must be a list"},
      {"pods:\n  - namespace: x\n", "pods[0].name: required"},
      {"pods:\n  - name: a\n    labels: [x]\n", "pods[0].labels: must be a mapping"},
      {"pods:\n  - name: a\n    labels: {k: [1]}\n", "pods[0].labels.k: must be a string"},
      {"pods:\n  - name: a\n    containers:\n      - id: x\n", "pods[0].containers[0].name: required"},
      {"pods:\n  - name: a\n    containers:\n      - name: m\n",
       "pods[0].containers[0].cgroupPath: required"},
      {"pods:\n  - name: a\n    containers:\n      - name: m\n        cgroupPath: /x\n        create: maybe\n",
       "pods[0].containers[0].create: must be true or false"},
      {"pods:\n  - name: a\n    contianers: []\n", "pods[0].contianers: unknown field"},
      {"pods:\n  - name: a\n  - name: a\n", "pods[1].name: pod default/a listed twice"},
      {"pods:\n  - name: a\n    containers:\n      - {name: m, cgroupPath: /x}\n      - {name: m, cgroupPath: /y}\n",
       "pods[0].containers[1].id: container id default-a-m used twice"},
      {"pods: [", "not valid YAML"},
      {"pod: []", "pod: unknown field"},
  };
  for (const Case& c : cases) {
    auto pods = ParseWorkloads(c.yaml, "f.yaml");
    ASSERT_FALSE(pods.ok()) << c.yaml;
    EXPECT_EQ(pods.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(pods.status().message()), HasSubstr(c.want)) << c.yaml;
  }
}

TEST(WorkloadsTest, ResolvesCgroupPathsUnderTheMount) {
  const std::string root = "/sys/fs/cgroup/unified";
  EXPECT_EQ(*ResolveCgroupPath(root, "/kubepods/pod1/ctr"), root + "/kubepods/pod1/ctr");
  EXPECT_EQ(*ResolveCgroupPath(root, "kubepods/pod1/"), root + "/kubepods/pod1");
  EXPECT_EQ(*ResolveCgroupPath(root, root + "/a/b"), root + "/a/b");
  EXPECT_EQ(*ResolveCgroupPath(root + "/", "/a/./b/../c"), root + "/a/c");
  auto bad = ResolveCgroupPath(root, "/../../etc");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("outside the cgroup v2 mount"));
  EXPECT_FALSE(ResolveCgroupPath(root, "").ok());
}

}  // namespace
}  // namespace tgd
