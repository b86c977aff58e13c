// Run-list gates on a real tracepoint and real cgroups (dispatch loader;
// dispatch_abi.h "Gates"): policies gated on their binary still match it,
// a binary in no policy's set is ruled out for all of them at once (and
// counted so), a value two policies hold stays in the hook's union while
// one of them is loaded, and nothing is left in the union (or at any config
// index) after the deletes.
#include <bpf/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

constexpr char kPolicy[] = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: NAME
spec:
  podSelector:
    matchLabels:
      app: a
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - SELECTOR
      matchArgs:
      - index: 6
        operator: Prefix
        values: [PREFIX]
)";

class GatesRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pods = testing::FilterWithPodsAB("gates");
    ASSERT_TRUE(pods.ok()) << pods.status();
    filter_ = std::move(pods->filter);
    cg_a_ = std::move(pods->a);
    cg_b_ = std::move(pods->b);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend("dispatch", &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    // Private copies of cat: matchBinaries selects only this test's runs.
    for (int i = 0; i < 3; ++i) {
      bins_.push_back(absl::StrCat("/tmp/tgd-gates-cat", i, "-", getpid()));
      std::filesystem::copy_file("/bin/cat", bins_[i], std::filesystem::copy_options::overwrite_existing);
      chmod(bins_[i].c_str(), 0755);
    }
    prefix_ = absl::StrCat("/tmp/tgd-gates-marker-", getpid(), "-");
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    for (const std::string& b : bins_) unlink(b.c_str());
  }

  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const std::string& name, const std::string& selector) {
    std::string yaml = absl::StrReplaceAll(kPolicy, {{"NAME", name}, {"SELECTOR", selector}, {"PREFIX", prefix_}});
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    return backend_->Load(doc, next_filter_id_++, PolicyMode::kEnforce);
  }
  void LoadOrDie(const std::string& name, const std::string& selector) {
    auto p = Load(name, selector);
    ASSERT_TRUE(p.ok()) << name << ": " << p.status();
    policies_[name] = std::move(*p);
  }
  std::string BinaryIn(int i) {
    return absl::StrCat("matchBinaries:\n      - operator: In\n        values: [\"", bins_[i], "\"]");
  }

  void Run(int bin) {
    auto pid = cg_a_->Spawn({bins_[bin], prefix_ + "x"});
    ASSERT_TRUE(pid.ok()) << pid.status();
    ASSERT_TRUE(testing::WaitChild(*pid).ok());
  }

  // Policy events delivered so far, by policy name.
  std::map<std::string, int> Drain() {
    while (backend_->PollOnce(50) > 0) {
    }
    std::map<std::string, int> out;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (ev->has_process_tracepoint()) ++out[ev->process_tracepoint().policy_name()];
    }
    return out;
  }

  tgd_hook_stats Stats() {
    auto hooks = backend_->Hooks();
    return hooks.empty() ? tgd_hook_stats{} : hooks[0].stats;
  }

  // Gate values (policy id TGD_GATE_POLICY) in the shared integer set.
  int GateEntries() {
    int fd = backend_->MapFd("tgd_int_values");
    tgd_int_key key{}, next{};
    void* prev = nullptr;
    int n = 0;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      n += next.policy_id == TGD_GATE_POLICY;
      key = next;
      prev = &key;
    }
    return n;
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_, cg_b_;
  std::unique_ptr<DispatchBackend> backend_;
  std::map<std::string, std::unique_ptr<LoadedPolicy>> policies_;
  std::vector<std::string> bins_;
  std::string prefix_;
  uint32_t next_filter_id_ = 2;
};

TEST_F(GatesRootTest, GatedPoliciesMatchTheirBinaryAndAreRuledOutForOthers) {
  LoadOrDie("bin0", BinaryIn(0));
  LoadOrDie("bin1", BinaryIn(1));
  LoadOrDie("any", "matchPIDs:\n      - operator: NotIn\n        values: [1]");  // not gated
  EXPECT_EQ(GateEntries(), 2);

  Run(0);
  Run(1);
  EXPECT_EQ(Drain(), (std::map<std::string, int>{{"bin0", 1}, {"bin1", 1}, {"any", 2}}));

  // A binary in neither set: both gated policies are ruled out on every
  // event of its process (two gate decisions per event), the other one is
  // evaluated.
  tgd_hook_stats before = Stats();
  Run(2);
  tgd_hook_stats after = Stats();
  EXPECT_EQ(Drain(), (std::map<std::string, int>{{"any", 1}}));
  uint64_t gated = after.gated - before.gated, evaluated = after.evaluated - before.evaluated;
  EXPECT_GT(gated, 0u);
  EXPECT_EQ(gated * 3, evaluated * 2) << "gated " << gated << " of " << evaluated;
}

TEST_F(GatesRootTest, AListOfGatedPoliciesIsDecidedWithoutEvaluatingAny) {
  LoadOrDie("bin0", BinaryIn(0));
  LoadOrDie("bin1", BinaryIn(1));
  LoadOrDie("pid", "matchPIDs:\n      - operator: In\n        values: [1]");
  tgd_hook_stats before = Stats();
  Run(2);
  tgd_hook_stats after = Stats();
  EXPECT_TRUE(Drain().empty());
  uint64_t gated = after.gated - before.gated;
  EXPECT_GT(gated, 0u);
  EXPECT_EQ(gated, after.evaluated - before.evaluated);
  EXPECT_EQ(after.posted, before.posted);
  Run(0);  // the binary gate opens: the two policies gated on it are evaluated, one matches
  EXPECT_EQ(Drain(), (std::map<std::string, int>{{"bin0", 1}}));
}

TEST_F(GatesRootTest, AValueStaysWhileAPolicyHoldsItAndGoesWithTheLast) {
  LoadOrDie("first", BinaryIn(0));
  LoadOrDie("second", BinaryIn(0));
  EXPECT_EQ(GateEntries(), 1);  // one union entry for both
  policies_.erase("second");
  backend_->WaitReclaimed();
  EXPECT_EQ(GateEntries(), 1);
  Run(0);
  EXPECT_EQ(Drain(), (std::map<std::string, int>{{"first", 1}}));
  policies_.erase("first");
  backend_->WaitReclaimed();
  EXPECT_EQ(GateEntries(), 0);
  // No config reference is left at any config index either.
  int fd = backend_->MapFd("tgd_cfg_index");
  ASSERT_GE(fd, 0);
  int left = 0;
  uint64_t ref = 0;
  for (uint32_t i = 0; bpf_map_lookup_elem(fd, &i, &ref) == 0; ++i) left += ref != 0;
  EXPECT_EQ(left, 0);
}

}  // namespace
}  // namespace tgd
