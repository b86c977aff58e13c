// Workloads file parsing: defaults, field-naming errors, path resolution;
// reloads beside RuntimeHook containers (a plain directory tree stands in for
// the cgroup mount: a cgroup id is the directory's inode).
#include "sensor/workloads/workloads.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sensor/bpfcore/fs.h"

namespace tgd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

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

// A fake cgroup root (a temp directory tree) and a workloads file in it.
class HookReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(::testing::TempDir(), "/wl-hook-reload-", getpid());
    std::filesystem::remove_all(root_);
    for (const char* d : {"file-main", "hook-side", "hook-other"}) {
      ASSERT_TRUE(std::filesystem::create_directories(root_ + "/" + d));
    }
    file_ = root_ + "/workloads.yaml";
    PolicyFilterOptions o;
    o.use_bpf = false;
    state_ = std::move(*PolicyFilterState::Create(o));
    ASSERT_TRUE(state_->AddPolicy(11, "", LabelSelector{{{"app", "web"}}, {}}, {}, {}).ok());
    ASSERT_TRUE(state_->AddPolicy(12, "", LabelSelector{{{"app", "db"}}, {}}, {}, {}).ok());
  }
  void TearDown() override {
    source_.reset();
    std::filesystem::remove_all(root_);
  }
  void WriteFile(const std::string& text) { std::ofstream(file_) << text; }
  void Start() {
    WorkloadSourceOptions o;
    o.path = file_;
    o.cgroup_root = root_;
    auto s = WorkloadSource::Create(state_.get(), o);
    ASSERT_TRUE(s.ok()) << s.status();
    source_ = *std::move(s);
  }
  uint64_t Id(const std::string& dir) { return *CgroupIdOfPath(root_ + "/" + dir); }
  absl::Status Hook(const std::string& uid, const std::string& name, const std::string& dir,
                    const std::string& container) {
    tetragon::RuntimeHookRequest req;
    tetragon::CreateContainer* cc = req.mutable_createcontainer();
    cc->set_cgroupspath("/" + dir);
    cc->set_poduid(uid);
    cc->set_podname(name);
    cc->set_podnamespace("default");
    cc->set_containerid(container);
    cc->set_containername(container);
    return source_->HandleRuntimeHook(req);
  }

  std::string root_, file_;
  std::unique_ptr<PolicyFilterState> state_;
  std::unique_ptr<WorkloadSource> source_;
};

constexpr char kUid[] = "0b6c9a3e-0000-4000-8000-00000000000a";

TEST_F(HookReloadTest, FilePodWithTheHookPodsUidKeepsItsHookContainers) {
  WriteFile(absl::StrCat("pods:\n  - {name: web, uid: ", kUid,
                         ", labels: {app: web}, containers: [{name: main, cgroupPath: /file-main}]}\n"));
  Start();
  ASSERT_TRUE(Hook(kUid, "web", "hook-side", "side").ok());
  EXPECT_THAT(state_->CgroupsOfPolicy(11), UnorderedElementsAre(Id("file-main"), Id("hook-side")));
  // SIGHUP / file change with the same content: the hook container stays.
  ASSERT_TRUE(source_->Reload().ok());
  EXPECT_THAT(state_->CgroupsOfPolicy(11), UnorderedElementsAre(Id("file-main"), Id("hook-side")));
  // A label edit moves both containers.
  WriteFile(absl::StrCat("pods:\n  - {name: web, uid: ", kUid,
                         ", labels: {app: db}, containers: [{name: main, cgroupPath: /file-main}]}\n"));
  ASSERT_TRUE(source_->Reload().ok());
  EXPECT_TRUE(state_->CgroupsOfPolicy(11).empty());
  EXPECT_THAT(state_->CgroupsOfPolicy(12), UnorderedElementsAre(Id("file-main"), Id("hook-side")));
  // The pod leaves the file: its file container goes, the hook container
  // stays (no labels known any more).
  WriteFile("pods: []\n");
  ASSERT_TRUE(source_->Reload().ok());
  EXPECT_TRUE(state_->CgroupsOfPolicy(12).empty());
  EXPECT_THAT(state_->CgroupsOfPolicy(kAllPodsPolicyId), ElementsAre(Id("hook-side")));
  ASSERT_TRUE(state_->PodOfCgroup(Id("hook-side")).has_value());
  EXPECT_EQ(state_->PodOfCgroup(Id("hook-side"))->pod.uid, kUid);
}

TEST_F(HookReloadTest, LabelEditsReachHookPodsMatchedByName) {
  WriteFile("pods:\n  - {name: web, labels: {app: web}}\n");  // derived uid
  Start();
  ASSERT_TRUE(Hook(kUid, "web", "hook-other", "ctr").ok());
  EXPECT_THAT(state_->CgroupsOfPolicy(11), ElementsAre(Id("hook-other")));
  WriteFile("pods:\n  - {name: web, labels: {app: db}}\n");
  ASSERT_TRUE(source_->Reload().ok());
  EXPECT_TRUE(state_->CgroupsOfPolicy(11).empty());
  EXPECT_THAT(state_->CgroupsOfPolicy(12), ElementsAre(Id("hook-other")));
  // Gone from the file: the container stays, without the file's labels.
  WriteFile("pods: []\n");
  ASSERT_TRUE(source_->Reload().ok());
  EXPECT_TRUE(state_->CgroupsOfPolicy(12).empty());
  EXPECT_THAT(state_->CgroupsOfPolicy(kAllPodsPolicyId), ElementsAre(Id("hook-other")));
  // The hook container's cgroup goes: the next poll drops it, and a reload
  // afterwards does not bring it back.
  std::filesystem::remove(root_ + "/hook-other");
  ASSERT_TRUE(source_->PollOnce().ok());
  EXPECT_TRUE(state_->CgroupsOfPolicy(kAllPodsPolicyId).empty());
  WriteFile("pods:\n  - {name: web, labels: {app: db}}\n");
  ASSERT_TRUE(source_->Reload().ok());
  EXPECT_TRUE(state_->CgroupsOfPolicy(12).empty());
}

}  // namespace
}  // namespace tgd
