// Root tests of tgdispatch's policy filter beside a Tetragon agent: a
// stand-in agent (testing/fake_agent) with upstream's maps and write
// semantics runs beside PolicyFilterState. After every step: the agent's maps
// hold exactly what the agent wrote (no entry lost, changed or added by us),
// each owner's two maps agree, and every pod gets the right policies.
#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "compat/policyfilter/policy_filter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/policyfilter/cgroup_tracker.h"
#include "sensor/policyfilter/filter_dump.h"
#include "sensor/policyfilter/filter_maps.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/policyfilter/testing/fake_agent.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::FakeAgentOptions;
using testing::FakeTetragonAgent;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
constexpr uint64_t kHost = kHostSelectorCgroupKey;
constexpr uint32_t kOurFirst = 0x40000000;  // tgdispatch's ids beside an agent

class TempBpfDir {
 public:
  explicit TempBpfDir(const char* what) {
    static int n = 0;
    path_ =
        absl::StrCat("/sys/fs/bpf/tgd-test-tg-", what, "-", getpid(), "-", n++);
    ok_ = EnsureBpffsDir(path_).ok();
  }
  ~TempBpfDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  bool ok() const { return ok_; }

 private:
  std::string path_;
  bool ok_ = false;
};

#define SKIP_UNLESS_ROOT()                                  \
  do {                                                      \
    std::string why = ::tgd::testing::RootTestSkipReason(); \
    if (!why.empty()) GTEST_SKIP() << why;                  \
  } while (0)

LabelSelector App(const std::string& app) {
  return LabelSelector{{{"app", app}}, {}};
}

// tgdispatch's side of the world, as a model the checks compare against.
struct OurPolicy {
  std::optional<std::string> app;
  bool host = false;
};
struct OurPod {
  std::string app;
  uint64_t cgroup = 0;
};

class BesideTetragonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = ::tgd::testing::RootTestSkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(tg_.ok() && own_.ok());
    auto a = FakeTetragonAgent::Create(FakeAgentOptions{tg_.path()});
    ASSERT_TRUE(a.ok()) << a.status();
    agent_ = *std::move(a);
  }

  void StartDaemon() {
    PolicyFilterOptions o;
    o.bpf_dir = own_.path();
    o.tetragon_bpf_dir = tg_.path();
    o.cgtracker_program = false;
    auto s = PolicyFilterState::Create(o);
    ASSERT_TRUE(s.ok()) << s.status();
    state_ = *std::move(s);
  }

  // A restart: the daemon goes and comes back, loading its policies again
  // (--policy-dir) and learning its pods again (workloads file).
  void RestartDaemon() {
    state_.reset();
    StartDaemon();
    for (const auto& [id, p] : policies_) ASSERT_TRUE(AddOurs(id, p).ok());
    for (const auto& [name, pod] : pods_)
      ASSERT_TRUE(PutOurPod(name, pod).ok());
  }

  absl::Status AddOurs(uint32_t id, const OurPolicy& p) {
    std::optional<LabelSelector> sel;
    if (p.app) sel = App(*p.app);
    std::optional<LabelSelector> host;
    if (p.host) host = LabelSelector{};
    return state_->AddPolicy(id, "", sel, std::nullopt, host);
  }
  absl::Status AddOurPolicy(uint32_t id, std::optional<std::string> app,
                            bool host = false) {
    OurPolicy p{std::move(app), host};
    absl::Status st = AddOurs(id, p);
    if (st.ok()) policies_[id] = p;
    return st;
  }
  absl::Status DelOurPolicy(uint32_t id) {
    policies_.erase(id);
    return state_->DelPolicy(id);
  }
  absl::Status PutOurPod(const std::string& name, const OurPod& pod) {
    return state_->UpdatePod(
        PodInfo{name, name, "default", {{"app", pod.app}}},
        {ContainerInfo{name + "-c", "main", "", pod.cgroup, ""}});
  }
  absl::Status AddOurPod(const std::string& name, const std::string& app,
                         uint64_t cgroup) {
    OurPod pod{app, cgroup};
    absl::Status st = PutOurPod(name, pod);
    if (st.ok()) pods_[name] = pod;
    return st;
  }
  absl::Status DelOurPod(const std::string& name) {
    pods_.erase(name);
    return state_->DelPod(name);
  }

  // The agent's maps are exactly what it wrote and agree with each other;
  // the tracker still maps each agent pod cgroup as the agent wrote it.
  void CheckAgent() {
    auto now = agent_->Read();
    ASSERT_TRUE(now.ok()) << now.status();
    PolicyFilterContent want = agent_->Expected();
    EXPECT_EQ(now->policies, want.policies)
        << "the agent's policy_filter_maps changed";
    EXPECT_EQ(now->cgroups, want.cgroups)
        << "the agent's policy_filter_cgroup_maps changed";
    EXPECT_THAT(PolicyFilterInconsistencies(*now, true), IsEmpty());
    for (uint64_t cg : want.policies[kTetragonAllPodsPolicyId]) {
      uint64_t v = 0;
      EXPECT_EQ(bpf_map_lookup_elem(agent_->cgtracker_fd(), &cg, &v), 0) << cg;
      EXPECT_EQ(v, cg);
    }
  }

  // Our maps hold our model, agree with each other, and every pod (and the
  // hostSelector key) gets the right policies: what the run lists are built
  // from (PoliciesOfCgroup).
  void CheckOurs() {
    if (!state_) return;
    auto kernel = ReadPolicyFilterMaps(state_->policy_filter_maps_fd(),
                                       state_->policy_filter_cgroup_maps_fd());
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    EXPECT_EQ(*kernel, state_->Content());
    EXPECT_THAT(PolicyFilterInconsistencies(*kernel, true), IsEmpty());
    std::map<uint64_t, std::set<uint32_t>> want;
    for (const auto& [name, pod] : pods_) {
      want[pod.cgroup].insert(kAllPodsPolicyId);
      for (const auto& [id, p] : policies_) {
        // tgdispatch: with a hostSelector, pods need both a pod and a
        // container selector (these policies have no container selector).
        bool match = !p.host && (!p.app || *p.app == pod.app);
        if (match) want[pod.cgroup].insert(id);
      }
    }
    for (const auto& [id, p] : policies_) {
      if (p.host) want[kHost].insert(id);
    }
    for (const auto& [cg, ids] : want) {
      std::vector<uint32_t> got = state_->PoliciesOfCgroup(cg);
      EXPECT_EQ(std::set<uint32_t>(got.begin(), got.end()), ids)
          << "cgroup " << cg;
    }
    for (const auto& [cg, ids] : kernel->cgroups) {
      EXPECT_TRUE(want.count(cg))
          << "cgroup " << cg << " has policies it should not have";
    }
  }

  void CheckAll() {
    CheckAgent();
    CheckOurs();
  }

  TempBpfDir tg_{"agent"}, own_{"own"};
  std::unique_ptr<FakeTetragonAgent> agent_;
  std::unique_ptr<PolicyFilterState> state_;
  std::map<uint32_t, OurPolicy> policies_;
  std::map<std::string, OurPod> pods_;
};

// 1. Removing a pod (a workloads reload) must not take the agent's entries
// for that cgroup with it, also those it wrote after we did.
TEST_F(BesideTetragonTest, RemovingOurPodKeepsTheAgentsLaterEntries) {
  StartDaemon();
  ASSERT_TRUE(AddOurPolicy(kOurFirst, "a").ok());
  ASSERT_TRUE(AddOurPod("p", "a", 7001).ok());
  ASSERT_TRUE(agent_->AddPolicy(2, "a").ok());
  ASSERT_TRUE(agent_->AddPod("p", "a", 7001).ok());
  CheckAll();
  ASSERT_TRUE(DelOurPod("p").ok());
  CheckAll();
}

// 2. A pod whose cgroup the agent registered after we started is accepted,
// and nothing of the agent's goes, also when one of our changes fails.
TEST_F(BesideTetragonTest, PodTheAgentRegisteredAfterOurStartIsAccepted) {
  StartDaemon();
  ASSERT_TRUE(AddOurPolicy(kOurFirst, "a").ok());
  ASSERT_TRUE(agent_->AddPod("p", "a", 7002).ok());
  ASSERT_TRUE(AddOurPod("p", "a", 7002).ok());
  CheckAll();
  // A failing change (another namespace for a known pod) leaves all as is.
  EXPECT_FALSE(state_
                   ->AddPodContainer(PodInfo{"p", "p", "other", {}},
                                     ContainerInfo{"x", "x", "", 7003, ""})
                   .ok());
  CheckAll();
  ASSERT_TRUE(DelOurPod("p").ok());
  CheckAll();
}

// 3. A hostSelector policy is accepted when the agent has one too.
TEST_F(BesideTetragonTest, HostSelectorPolicyBesideTheAgentsOne) {
  ASSERT_TRUE(agent_->AddPolicy(2, "a", /*host=*/true).ok());
  ASSERT_TRUE(agent_->AddPod("p", "a", 7004).ok());
  StartDaemon();
  ASSERT_TRUE(AddOurPolicy(kOurFirst, "a", /*host=*/true).ok());
  ASSERT_TRUE(AddOurPod("p", "a", 7004).ok());
  CheckAll();
  EXPECT_EQ(state_->PoliciesOfCgroup(kHost), std::vector<uint32_t>{kOurFirst});
  ASSERT_TRUE(DelOurPolicy(kOurFirst).ok());
  CheckAll();
}

// 4. After the agent empties and deletes a cgroup row, our next policy on
// that pod leaves both owners' maps consistent.
TEST_F(BesideTetragonTest, AgentDeletesARowThenOurNextPolicyOnThatPod) {
  ASSERT_TRUE(agent_->AddPod("p", "a", 7005).ok());
  StartDaemon();
  ASSERT_TRUE(AddOurPod("p", "a", 7005).ok());
  ASSERT_TRUE(agent_->DelPod("p").ok());
  CheckAll();
  ASSERT_TRUE(AddOurPolicy(kOurFirst, "a").ok());
  CheckAll();
  ASSERT_TRUE(agent_->AddPod("p", "a", 7005).ok());
  ASSERT_TRUE(agent_->AddPolicy(2, std::nullopt).ok());
  ASSERT_TRUE(AddOurPolicy(kOurFirst + 1, std::nullopt).ok());
  CheckAll();
}

// 5. Shutdown leaves the rows the agent wrote into since our start, and
// takes our own pins away.
TEST_F(BesideTetragonTest, ShutdownLeavesTheAgentsEntries) {
  StartDaemon();
  ASSERT_TRUE(AddOurPolicy(kOurFirst, "a").ok());
  ASSERT_TRUE(AddOurPod("p", "a", 7006).ok());
  ASSERT_TRUE(agent_->AddPod("p", "a", 7006).ok());
  ASSERT_TRUE(agent_->AddPolicy(2, "a").ok());
  CheckAll();
  state_.reset();
  CheckAgent();
  EXPECT_FALSE(std::filesystem::exists(own_.path() + "/policy_filter_maps"));
  EXPECT_FALSE(
      std::filesystem::exists(own_.path() + "/policy_filter_cgroup_maps"));
  // The agent's pins are still there.
  EXPECT_TRUE(std::filesystem::exists(tg_.path() + "/policy_filter_maps"));
}

// Scoped policies beside the agent are not bounded by its 128-entry outer
// map (nor one pod by its 128 policies per cgroup).
TEST_F(BesideTetragonTest, ScopedPoliciesAreNotBoundByTheAgentsMapSizes) {
  for (uint32_t i = 0; i < 20; ++i)
    ASSERT_TRUE(agent_->AddPolicy(2 + i, "a").ok());
  ASSERT_TRUE(agent_->AddPod("p", "a", 7007).ok());
  StartDaemon();
  ASSERT_TRUE(AddOurPod("p", "a", 7007).ok());
  ASSERT_TRUE(AddOurPod("q", "b", 7008).ok());
  // bench/dispatch --beside_tetragon loads 10,000; here 300 (> 128), half of
  // them on pod p (150 > 128 per cgroup).
  constexpr int kN = 300;
  auto open_fds = [] {
    int n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator("/proc/self/fd"))
      ++n;
    return n;
  };
  const int fds_before = open_fds();
  for (int i = 0; i < kN; ++i) {
    std::string app = i % 2 == 0 ? "a" : absl::StrCat("none-", i);
    absl::Status st = AddOurPolicy(kOurFirst + i, app);
    ASSERT_TRUE(st.ok()) << "policy " << i << ": " << st;
  }
  CheckAll();
  EXPECT_EQ(state_->PoliciesOfCgroup(7007).size(), kN / 2 + 1u);
  // Inner maps are not held open: fds do not grow with the policies.
  EXPECT_LT(open_fds(), fds_before + 8);
}

// The dump names the owner of every entry and flags what a tgdispatch that
// wrote into the agent's maps left there.
TEST_F(BesideTetragonTest, DumpShowsOwnersAndFlagsInconsistencies) {
  ASSERT_TRUE(agent_->AddPolicy(2, "a").ok());
  ASSERT_TRUE(agent_->AddPod("p", "a", 7009).ok());
  StartDaemon();
  ASSERT_TRUE(AddOurPolicy(kOurFirst, "a").ok());
  ASSERT_TRUE(AddOurPod("p", "a", 7009).ok());
  auto agent_now = state_->AgentContent();
  ASSERT_TRUE(agent_now.ok()) << agent_now.status();
  int problems = -1;
  std::string out =
      FormatOwnedDump({{"tetragon", tg_.path(), *agent_now, true},
                       {"tgdispatch", own_.path(), state_->Content(), true}},
                      &problems);
  EXPECT_THAT(out, HasSubstr("[tetragon] 2: 7009"));
  EXPECT_THAT(out, HasSubstr("[tetragon] 7009: 1(all-pods) 2"));
  EXPECT_THAT(out, HasSubstr(absl::StrCat("[tgdispatch] 7009: 1(all-pods) ",
                                          kOurFirst)));
  EXPECT_EQ(problems, 0) << out;

  // A stale entry of ours in the agent's policy map (as an older tgdispatch
  // left it), listing a cgroup whose row lacks it.
  int inner = bpf_map_create(BPF_MAP_TYPE_HASH, "stale", 8, 1, 16, nullptr);
  ASSERT_GE(inner, 0);
  uint64_t cg = 7009;
  uint8_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(inner, &cg, &zero, BPF_ANY), 0);
  uint32_t stale = kOurFirst + 5, fd = inner;
  ASSERT_EQ(bpf_map_update_elem(agent_->policy_map_fd(), &stale, &fd, BPF_ANY),
            0);
  close(inner);
  agent_now = state_->AgentContent();
  ASSERT_TRUE(agent_now.ok());
  out =
      FormatOwnedDump({{"tetragon", tg_.path(), *agent_now, true}}, &problems);
  EXPECT_EQ(problems, 2) << out;
  EXPECT_THAT(out, HasSubstr("policy 1073741829 is in tgdispatch's id range"));
  EXPECT_THAT(out, HasSubstr("policy 1073741829 lists cgroup 7009, whose "
                             "policy_filter_cgroup_maps row lacks"));
  // Our id allocation skips it.
  EXPECT_TRUE(state_->PolicyIdInUse(stale));
  ASSERT_EQ(bpf_map_delete_elem(agent_->policy_map_fd(), &stale), 0);
}

// Seeded random interleavings of agent and daemon operations (policies
// added and deleted, pods added, relabelled and removed on both sides, the
// daemon restarted), checked after every step. TGD_BESIDE_SEED=N replays one.
TEST_F(BesideTetragonTest, RandomInterleavingsKeepBothOwnersRight) {
  uint64_t seed = std::random_device{}();
  if (const char* s = getenv("TGD_BESIDE_SEED"))
    seed = strtoull(s, nullptr, 10);
  constexpr int kSteps = 300;
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> apps = {"a", "b", "c"};
  auto random_app = [&]() -> std::optional<std::string> {
    int i = pick(4);
    if (i == 3) return std::nullopt;
    return apps[i];
  };
  constexpr uint64_t kCgroupBase = 8000;
  constexpr int kCgroups = 6;
  StartDaemon();
  uint32_t agent_next = 2, ours_next = kOurFirst;
  for (int step = 0; step < kSteps; ++step) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (TGD_BESIDE_SEED=", seed,
                              " replays it), step ", step));
    int op = pick(11);
    std::string pod = absl::StrCat("pod", pick(kCgroups));
    uint64_t cg = kCgroupBase + (pod.back() - '0');  // one cgroup per pod name
    std::string what;
    absl::Status st;
    switch (op) {
      case 0:
        if (agent_next < 60) {
          bool host = pick(5) == 0;
          what = absl::StrCat("agent adds policy ", agent_next);
          st = agent_->AddPolicy(agent_next++, random_app(), host);
        }
        break;
      case 1: {
        uint32_t id = 2 + pick(std::max<uint32_t>(1, agent_next - 2));
        what = absl::StrCat("agent deletes policy ", id);
        st = agent_->DelPolicy(id);
        break;
      }
      case 2:
        if (!agent_->has_pod(pod)) {
          what = "agent adds " + pod;
          st = agent_->AddPod(pod, apps[pick(3)], cg);
        }
        break;
      case 3:
        what = "agent deletes " + pod;
        st = agent_->DelPod(pod);
        break;
      case 4:
        what = absl::StrCat("we add policy ", ours_next);
        st = AddOurPolicy(ours_next++, random_app(), pick(5) == 0);
        break;
      case 5:
        if (!policies_.empty()) {
          auto it = policies_.begin();
          std::advance(it, pick(policies_.size()));
          what = absl::StrCat("we delete policy ", it->first);
          st = DelOurPolicy(it->first);
        }
        break;
      case 6:
      case 7:
        what = "we add or relabel " + pod + " (workloads reload)";
        st = AddOurPod(pod, apps[pick(3)], cg);
        break;
      case 8:
        what = "we delete " + pod;
        st = DelOurPod(pod);
        break;
      case 9:
        if (pick(4) == 0) {
          what = "we restart";
          RestartDaemon();
        }
        break;
      case 10: {
        // A workloads reload that replaces every pod at once.
        what = "we reload every pod";
        for (const auto& [name, p] : std::map<std::string, OurPod>(pods_)) {
          st = AddOurPod(name, apps[pick(3)], p.cgroup);
          if (!st.ok()) break;
        }
        break;
      }
    }
    ASSERT_TRUE(st.ok()) << what << ": " << st;
    SCOPED_TRACE(what);
    CheckAll();
    if (HasFailure()) break;
  }
}

// The agent's tg_cgtracker_map is shared: we only add absent entries, never
// change or delete one of the agent's, also when we untrack.
TEST_F(BesideTetragonTest, SharedCgroupTrackerOnlyAddsAbsentEntries) {
  int fd = agent_->cgtracker_fd();
  ASSERT_GE(fd, 0);
  uint64_t sub = 9101, container = 9100, other = 9200;
  ASSERT_EQ(bpf_map_update_elem(fd, &sub, &other, BPF_ANY),
            0);  // the agent: 9101 -> 9200
  ASSERT_EQ(bpf_map_update_elem(fd, &other, &other, BPF_ANY), 0);
  CgroupTrackerOptions o;
  o.tetragon_bpf_dir = tg_.path();
  o.pin_dir = own_.path();
  o.load_program = false;
  auto t = CgroupTracker::Create(o);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE((*t)->shared());
  ASSERT_TRUE((*t)->Track(container, "").ok());
  ASSERT_TRUE((*t)->Track(sub, "").ok());  // present: stays the agent's
  EXPECT_EQ((*t)->ContainerOf(container), container);
  EXPECT_EQ((*t)->ContainerOf(sub), other);
  ASSERT_TRUE((*t)->Untrack(other).ok());
  ASSERT_TRUE((*t)->Untrack(container).ok());
  EXPECT_EQ((*t)->ContainerOf(sub), other);
  EXPECT_EQ((*t)->ContainerOf(other), other);
  // Our own entry stays too (the kernel's release program removes it when
  // the cgroup goes): the agent may track the same container.
  EXPECT_EQ((*t)->ContainerOf(container), container);
  EXPECT_FALSE(std::filesystem::exists(own_.path() + "/tg_cgtracker_map"));
}

// An agent run without --enable-policy-filter-cgroup-map has no reverse map:
// accepted (we read nothing from it that we need).
TEST(BesideTetragonNoCgroupMapTest, AgentWithoutTheCgroupMapIsAccepted) {
  SKIP_UNLESS_ROOT();
  TempBpfDir tg("agent"), own("own");
  ASSERT_TRUE(tg.ok() && own.ok());
  FakeAgentOptions ao{tg.path()};
  ao.cgroup_map = false;
  auto agent = FakeTetragonAgent::Create(ao);
  ASSERT_TRUE(agent.ok()) << agent.status();
  PolicyFilterOptions o;
  o.bpf_dir = own.path();
  o.tetragon_bpf_dir = tg.path();
  o.cgtracker_program = false;
  auto s = PolicyFilterState::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE((*s)->tetragon_mode());
  ASSERT_TRUE(
      (*s)->AddPolicy(kOurFirst, "", App("a"), std::nullopt, std::nullopt)
          .ok());
  auto now = (*agent)->Read();
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(*now, (*agent)->Expected());
}

}  // namespace
}  // namespace tgd
