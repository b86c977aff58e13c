// Root tests: the workloads file and RuntimeHook against real cgroups.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/testing/cgroup.h"
#include "sensor/workloads/workloads.h"

namespace tgd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<PolicyFilterState> ModelState() {
  PolicyFilterOptions o;
  o.use_bpf = false;
  return std::move(*PolicyFilterState::Create(o));
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

#define SKIP_UNLESS_ROOT()                           \
  do {                                               \
    std::string why = testing::RootTestSkipReason(); \
    if (!why.empty()) GTEST_SKIP() << why;           \
  } while (0)

TEST(WorkloadsRootTest, EmbeddedDemoCreatesItsCgroupsAndRemovesThem) {
  SKIP_UNLESS_ROOT();
  auto root = testing::TestCgroup::Create("wl-demo");
  ASSERT_TRUE(root.ok()) << root.status();
  auto state = ModelState();
  ASSERT_TRUE(state->AddPolicy(11, "default", LabelSelector{{{"app", "a"}}, {}}, std::nullopt,
                               std::nullopt)
                  .ok());
  std::string pod_a = (*root)->path() + "/tgdispatch-demo/pod-a/main";
  {
    WorkloadSourceOptions o;
    o.cgroup_root = (*root)->path();
    auto src = WorkloadSource::Create(state.get(), o);
    ASSERT_TRUE(src.ok()) << src.status();
    auto id = CgroupIdOfPath(pod_a);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_THAT(state->CgroupsOfPolicy(11), ElementsAre(*id));
    EXPECT_EQ(state->CgroupsOfPolicy(kAllPodsPolicyId).size(), 2u);
    EXPECT_EQ((*src)->warning_count(), 0);
  }
  EXPECT_FALSE(std::filesystem::exists((*root)->path() + "/tgdispatch-demo"));
}

TEST(WorkloadsRootTest, FileReloadsOnChangeAndKeepsStateOnBadFile) {
  SKIP_UNLESS_ROOT();
  auto root = testing::TestCgroup::Create("wl-file");
  ASSERT_TRUE(root.ok()) << root.status();
  auto existing = (*root)->CreateChild("existing");
  ASSERT_TRUE(existing.ok());
  std::string file = absl::StrCat(::testing::TempDir(), "/workloads-", getpid(), ".yaml");
  WriteFile(file, absl::StrCat(R"(
pods:
  - name: web
    labels: {app: web}
    containers:
      - name: main
        cgroupPath: )", (*root)->relative_path(), R"(/existing
      - name: gone
        cgroupPath: )", (*root)->relative_path(), R"(/missing
  - name: lonely
    namespace: other
)"));
  auto state = ModelState();
  ASSERT_TRUE(state->AddPolicy(11, "", LabelSelector{{{"app", "web"}}, {}}, std::nullopt,
                               std::nullopt)
                  .ok());
  WorkloadSourceOptions o;
  o.path = file;
  auto src = WorkloadSource::Create(state.get(), o);
  ASSERT_TRUE(src.ok()) << src.status();
  EXPECT_THAT(state->CgroupsOfPolicy(11), ElementsAre((*existing)->id()));
  // The missing cgroup and the pod without containers are counted warnings.
  EXPECT_EQ((*src)->warning_count(), 2);
  EXPECT_THAT((*src)->last_warnings()[0],
              HasSubstr("pods[0].containers[1].cgroupPath: no cgroup at"));

  // Relabel: the poll notices the change.
  WriteFile(file, absl::StrCat(R"(
pods:
  - name: web
    labels: {app: db}
    containers:
      - name: main
        cgroupPath: )", (*root)->path(), R"(/existing
)"));
  struct timespec later[2] = {{0, UTIME_OMIT}, {time(nullptr) + 5, 0}};
  utimensat(AT_FDCWD, file.c_str(), later, 0);
  ASSERT_TRUE((*src)->PollOnce().ok());
  EXPECT_TRUE(state->CgroupsOfPolicy(11).empty());
  EXPECT_THAT(state->CgroupsOfPolicy(kAllPodsPolicyId), ElementsAre((*existing)->id()));

  // A broken file changes nothing and says where it is broken.
  WriteFile(file, "pods:\n  - name: web\n    containers: {}\n");
  absl::Status st = (*src)->Reload();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("pods[0].containers: must be a list"));
  EXPECT_THAT(state->CgroupsOfPolicy(kAllPodsPolicyId), ElementsAre((*existing)->id()));

  // An empty file removes the pods.
  WriteFile(file, "pods: []\n");
  ASSERT_TRUE((*src)->Reload().ok());
  EXPECT_TRUE(state->CgroupsOfPolicy(kAllPodsPolicyId).empty());
  std::filesystem::remove(file);
}

TEST(WorkloadsRootTest, RuntimeHookAddsContainerAndDropsItWhenItsCgroupGoes) {
  SKIP_UNLESS_ROOT();
  auto root = testing::TestCgroup::Create("wl-hook");
  ASSERT_TRUE(root.ok()) << root.status();
  auto ctr = (*root)->CreateChild("ctr1");
  ASSERT_TRUE(ctr.ok());
  std::string file = absl::StrCat(::testing::TempDir(), "/workloads-hook-", getpid(), ".yaml");
  WriteFile(file, "pods:\n  - {name: pod-a, namespace: default, labels: {app: a}}\n");
  auto state = ModelState();
  ASSERT_TRUE(state->AddPolicy(11, "default", LabelSelector{{{"app", "a"}}, {}},
                               LabelSelector{{{"name", "main"}}, {}}, std::nullopt)
                  .ok());
  WorkloadSourceOptions o;
  o.path = file;
  auto src = WorkloadSource::Create(state.get(), o);
  ASSERT_TRUE(src.ok()) << src.status();

  tetragon::RuntimeHookRequest req;
  tetragon::CreateContainer* cc = req.mutable_createcontainer();
  cc->set_cgroupspath((*ctr)->relative_path());
  cc->set_poduid("0b6c9a3e-0000-4000-8000-000000000001");
  cc->set_podname("pod-a");
  cc->set_podnamespace("default");
  cc->set_containerid("abc123");
  cc->set_containername("main");
  cc->set_containerimage("docker.io/app:1");
  ASSERT_TRUE((*src)->HandleRuntimeHook(req).ok());
  // Labels came from the workloads file (by namespace/name).
  EXPECT_THAT(state->CgroupsOfPolicy(11), ElementsAre((*ctr)->id()));

  tetragon::RuntimeHookRequest bad = req;
  bad.mutable_createcontainer()->set_cgroupspath("/../../etc");
  EXPECT_THAT(std::string((*src)->HandleRuntimeHook(bad).message()),
              HasSubstr("createContainer.cgroupsPath"));
  bad.mutable_createcontainer()->set_cgroupspath((*root)->relative_path() + "/nope");
  EXPECT_EQ((*src)->HandleRuntimeHook(bad).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*src)->HandleRuntimeHook(tetragon::RuntimeHookRequest()).code(),
            absl::StatusCode::kInvalidArgument);

  // Container gone: the next poll removes it.
  std::string path = (*ctr)->path();
  ctr->reset();
  ASSERT_FALSE(std::filesystem::exists(path));
  ASSERT_TRUE((*src)->PollOnce().ok());
  EXPECT_TRUE(state->CgroupsOfPolicy(11).empty());
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace tgd
