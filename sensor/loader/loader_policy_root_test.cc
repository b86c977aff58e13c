// `loader: true` through the dispatch loader: a policy with it (and no
// hooks) loads with Tetragon's sensor name "__loader__", a child's dlopen()
// of a test library gives a process_loader event on the bus; disabling the
// policy, and deleting it, stop the events. A scoped loader policy is
// refused naming spec.loader, as Tetragon refuses it.
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"

namespace tgd {
namespace {

constexpr char kLoaderPolicy[] = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: loader
spec:
  loader: true
)";

class LoaderPolicyRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto f = testing::InMemoryPolicyFilter();
    ASSERT_TRUE(f.ok()) << f.status();
    filter_ = std::move(*f);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend("dispatch", &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    lib_ = absl::StrCat("/tmp/tgd-loader-policy-", getpid(), ".so");
    std::filesystem::copy_file("sensor/loaderevents/libtgd_loader_test.so", lib_,
                               std::filesystem::copy_options::overwrite_existing);
  }
  void TearDown() override {
    policy_.reset();
    backend_.reset();
    if (!lib_.empty()) unlink(lib_.c_str());
  }

  // A child dlopen()s the library; returns the child's pid.
  pid_t DlopenInChild() {
    pid_t child = fork();
    if (child == 0) _exit(dlopen(lib_.c_str(), RTLD_NOW) != nullptr ? 0 : 1);
    int st = 0;
    waitpid(child, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
    return child;
  }

  // The process_loader events of the library's path until `want` came or
  // `wait` passed.
  std::vector<tetragon::ProcessLoader> Events(size_t want, absl::Duration wait) {
    std::vector<tetragon::ProcessLoader> got;
    EventBus::Event ev;
    for (absl::Time end = absl::Now() + wait; absl::Now() < end && got.size() < want;) {
      if (!sub_->Next(&ev, absl::Now() + absl::Milliseconds(100))) continue;
      if (ev->has_process_loader() && ev->process_loader().path() == lib_) got.push_back(ev->process_loader());
    }
    return got;
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<DispatchBackend> backend_;
  std::unique_ptr<LoadedPolicy> policy_;
  std::string lib_;
};

TEST_F(LoaderPolicyRootTest, LoaderPolicyReportsMappingsWhileEnabled) {
  auto doc = ParsePolicyDocument(kLoaderPolicy);
  ASSERT_TRUE(doc.ok()) << doc.status();
  auto p = backend_->Load(*doc, 0, PolicyMode::kEnforce);
  ASSERT_TRUE(p.ok()) << p.status();
  policy_ = std::move(*p);
  EXPECT_EQ(policy_->Sensors(), (std::vector<std::string>{"__loader__"}));
  EXPECT_TRUE(backend_->Hooks().empty());

  pid_t c1 = DlopenInChild();
  auto got = Events(1, absl::Seconds(10));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].buildid().empty());
  (void)c1;  // the backend of this test has no process cache: no process info

  ASSERT_TRUE(policy_->SetEnabled(false).ok());
  DlopenInChild();
  EXPECT_TRUE(Events(1, absl::Milliseconds(500)).empty()) << "disabled";
  ASSERT_TRUE(policy_->SetEnabled(true).ok());
  DlopenInChild();
  EXPECT_EQ(Events(1, absl::Seconds(10)).size(), 1u) << "enabled again";
  policy_.reset();
  DlopenInChild();
  EXPECT_TRUE(Events(1, absl::Milliseconds(500)).empty()) << "deleted";
}

TEST_F(LoaderPolicyRootTest, ScopedLoaderPolicyIsRefused) {
  auto doc = ParsePolicyDocument(absl::StrCat(kLoaderPolicy, "  podSelector:\n    matchLabels:\n      app: a\n"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  auto p = backend_->Load(*doc, 7, PolicyMode::kEnforce);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << p.status();
  EXPECT_EQ(p.status().message().rfind("spec.loader: ", 0), 0u) << p.status();
}

}  // namespace
}  // namespace tgd
