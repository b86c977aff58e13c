// Root tests of the dispatch loader outside the two-loader fixture of
// dispatch_root_test.cc: the dispatcher with the real policy filter maps and
// cgroup tracker (DispatchTrackerTest), and every program of the dispatch and
// per-policy objects through the verifier (DispatchObjectTest).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "bpf/dispatch/dispatch.skel.h"
#include "bpf/dispatch/per_policy.skel.h"
#include "sensor/bpfcore/bpf_owners.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/features.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

// The dispatcher with the real policy filter maps and the cgroup tracker: a
// container's sub-cgroups count as the container, and hostSelector policies
// apply to the cgroups of no pod.
class DispatchTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    dir_ = absl::StrCat("/sys/fs/bpf/tgd-disp-trk-", getpid());
    ASSERT_TRUE(EnsureBpffsDir(dir_).ok());
    PolicyFilterOptions fo;
    fo.bpf_dir = dir_;
    auto f = PolicyFilterState::Create(fo);
    ASSERT_TRUE(f.ok()) << f.status();
    filter_ = std::move(*f);
    auto a = TestCgroup::Create("trk-a");
    ASSERT_TRUE(a.ok()) << a.status();
    cg_a_ = std::move(*a);
    auto h = TestCgroup::Create("trk-host");
    ASSERT_TRUE(h.ok()) << h.status();
    cg_host_ = std::move(*h);
    ASSERT_TRUE(filter_->AddPodContainer({"uid-a", "pod-a", "default", {{"app", "a"}}},
                                         {"cont-a", "main", "", cg_a_->id(), cg_a_->path()})
                    .ok());
    sub_ = bus_.Subscribe(100000);
    DispatchOptions o;
    o.bus = &bus_;
    o.filter = filter_.get();
    o.start_reader = false;
    auto be = DispatchBackend::Create(o);
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    bin_ = absl::StrCat("/tmp/tgd-trk-cat-", getpid());
    std::filesystem::copy_file("/bin/cat", bin_, std::filesystem::copy_options::overwrite_existing);
    chmod(bin_.c_str(), 0755);
  }
  void TearDown() override {
    policy_.reset();
    backend_.reset();
    filter_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (!bin_.empty()) unlink(bin_.c_str());
  }
  std::string Yaml(const std::string& scope) {
    return absl::StrReplaceAll(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: trk
spec:
SCOPE
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 6
      type: string
    selectors:
    - matchBinaries:
      - operator: In
        values: [BINARY]
      matchArgs:
      - index: 6
        operator: Equal
        values: ["/tmp/tgd-trk-marker"]
)", {{"SCOPE", scope}, {"BINARY", bin_}});
  }
  void Load(const std::string& scope) {
    auto doc = ParsePolicyDocument(Yaml(scope));
    ASSERT_TRUE(doc.ok()) << doc.status();
    auto p = backend_->Load(*doc, 7, PolicyMode::kEnforce);
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = std::move(*p);
  }
  size_t Events(TestCgroup& cg) {
    auto pid = cg.Spawn({bin_, "/tmp/tgd-trk-marker"});
    EXPECT_TRUE(pid.ok());
    if (pid.ok()) {
      EXPECT_TRUE(testing::WaitChild(*pid).ok());
    }
    while (backend_->PollOnce(50) > 0) {
    }
    size_t n = 0;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) n += ev->has_process_tracepoint();
    return n;
  }

  std::string dir_, bin_;
  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_, cg_host_;
  std::unique_ptr<DispatchBackend> backend_;
  std::unique_ptr<LoadedPolicy> policy_;
};

TEST_F(DispatchTrackerTest, SubCgroupOfAPodCountsAsThePod) {
  Load("  podSelector:\n    matchLabels:\n      app: a");
  auto child = cg_a_->CreateChild("worker");  // made after the pod was registered
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(Events(**child), 1u);
  EXPECT_EQ(Events(*cg_a_), 1u);
  EXPECT_EQ(Events(*cg_host_), 0u);
}

TEST_F(DispatchTrackerTest, HostSelectorAppliesToCgroupsOfNoPod) {
  Load("  hostSelector: {}");
  auto child = cg_a_->CreateChild("worker");
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(Events(*cg_host_), 1u);
  EXPECT_EQ(Events(*cg_a_), 0u);
  EXPECT_EQ(Events(**child), 0u);
}

// Programs of hook kinds this kernel cannot attach are still verified: the
// kprobe dispatcher, its policy program and the per-policy kprobe program
// load wherever kprobe programs load, attach or not; the LSM ones wherever
// the kernel loads LSM programs (the lsm feature probe's load step).
// Every program of both objects passes the verifier, kprobe and LSM ones
// included (they cannot attach on every kernel), and with headroom: the
// verifier's budget is 1M instructions, and its cost for the same program
// differs between kernel builds (the evaluators once needed ~1M on one
// 6.18 build and far less on another), so a program that needs more than
// half of it fails here before it fails to load somewhere.
TEST(DispatchObjectTest, ProgramsPassTheVerifierWithHeadroom) {
  if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
  constexpr long kBudget = 500000;
  for (const char* which : {"dispatch", "per_policy"}) {
    size_t sz = 0;
    const void* elf = std::string(which) == "dispatch" ? dispatch::elf_bytes(&sz) : per_policy::elf_bytes(&sz);
    BpfObject obj(bpf_object__open_mem(elf, sz, nullptr));
    ASSERT_TRUE(obj) << which;
    bpf_program* prog;
    int kprobes = 0, lsms = 0;
    // Where the kernel refuses to load any LSM program (the feature probe
    // failed at load), they are verified on kernels that load them.
    const FeatureProbe& lsm_probe = KernelFeatures::Get().Of(HookFeature::kLsm);
    const bool with_lsm = lsm_probe.available || lsm_probe.stage != "load";
    if (!with_lsm) std::cout << "LSM programs not verified: " << lsm_probe.reason << "\n";
    std::map<std::string, std::vector<char>> logs;
    bpf_object__for_each_program(prog, obj.get()) {
      const std::string name = bpf_program__name(prog);
      bool kp = absl::StrContains(name, "kprobe");
      bool lsm = absl::EndsWith(name, "_lsm");
      kprobes += kp;
      lsms += lsm;
      if (lsm && !with_lsm) {
        bpf_program__set_autoload(prog, false);
        continue;
      }
      if (lsm) {
        ASSERT_EQ(bpf_program__set_attach_target(prog, 0, "file_open"), 0);
      }
      std::vector<char>& log = logs[name];
      log.assign(1 << 16, '\0');
      bpf_program__set_log_buf(prog, log.data(), log.size());
      bpf_program__set_log_level(prog, 4);  // statistics only
    }
    EXPECT_EQ(kprobes, std::string(which) == "dispatch" ? 2 : 1);
    EXPECT_EQ(lsms, std::string(which) == "dispatch" ? 2 : 1);  // built either way
    ASSERT_EQ(bpf_object__load(obj.get()), 0) << which << ": see the verifier log above";
    for (const auto& [name, log] : logs) {
      const char* p = strstr(log.data(), "processed ");
      ASSERT_NE(p, nullptr) << name << ": no verifier statistics in: " << log.data();
      long insns = strtol(p + strlen("processed "), nullptr, 10);
      std::cout << which << " " << name << ": verifier processed " << insns << " instructions\n";
      EXPECT_GT(insns, 0) << name;
      EXPECT_LT(insns, kBudget) << name << " needs " << insns << " of the verifier's 1M instructions";
    }
  }
}

}  // namespace
}  // namespace tgd
