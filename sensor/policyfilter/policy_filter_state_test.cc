// PolicyFilterState semantics on the in-memory model (no BPF): Tetragon's
// scenarios (state_test.go), selector semantics, errors and notifications.
#include "sensor/policyfilter/policy_filter_state.h"

#include <map>
#include <random>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"

namespace tgd {
namespace {

using labels::Operator;
using labels::Requirement;
using PolicyMap = std::map<uint32_t, std::set<uint64_t>>;
constexpr uint64_t kHost = kHostSelectorCgroupKey;

std::unique_ptr<PolicyFilterState> NewState() {
  PolicyFilterOptions o;
  o.use_bpf = false;
  auto s = PolicyFilterState::Create(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

LabelSelector Sel(labels::Labels match, std::vector<Requirement> exprs = {}) {
  return LabelSelector{std::move(match), std::move(exprs)};
}

PodInfo Pod(const std::string& uid, const std::string& ns, labels::Labels l = {}) {
  return PodInfo{uid, uid + "-name", ns, std::move(l)};
}

ContainerInfo Cont(const std::string& id, uint64_t cg, const std::string& name = "main",
                   const std::string& repo = "") {
  return ContainerInfo{id, name, repo, cg, ""};
}

// Checks the policy map and that the cgroup map is its exact reverse.
void ExpectContent(const PolicyFilterState& s, const PolicyMap& want) {
  PolicyFilterContent c = s.Content();
  EXPECT_EQ(c.policies, want);
  EXPECT_EQ(c.cgroups, ReverseOf(want));
}

TEST(PolicyFilterStateTest, StartsWithEmptyAllPodsEntry) {
  auto s = NewState();
  ExpectContent(*s, {{kAllPodsPolicyId, {}}});
}

// Tetragon's TestState, with policy ids shifted past the reserved ones.
TEST(PolicyFilterStateTest, NamespacesPodsAndDeletes) {
  auto s = NewState();
  ASSERT_TRUE(s->AddPolicy(11, "ns1", Sel({}), Sel({}), std::nullopt).ok());
  ASSERT_TRUE(s->AddPolicy(12, "ns2", Sel({}), Sel({}), std::nullopt).ok());
  ASSERT_TRUE(s->AddPolicy(13, "ns3", Sel({}), Sel({}), std::nullopt).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p1", "ns2"), Cont("c1", 2001)).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p1", "ns2"), Cont("c2", 2002)).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p2", "ns1"), Cont("c3", 1001)).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p3", "ns3"), Cont("c4", 3001)).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p4", "ns3"), Cont("c5", 3002)).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p4", "ns3"), Cont("c6", 3003)).ok());
  ExpectContent(*s, {{1, {1001, 2001, 2002, 3001, 3002, 3003}},
                     {11, {1001}},
                     {12, {2001, 2002}},
                     {13, {3001, 3002, 3003}}});
  ASSERT_TRUE(s->DelPodContainer("p2", "c3").ok());
  ExpectContent(*s, {{1, {2001, 2002, 3001, 3002, 3003}},
                     {11, {}},
                     {12, {2001, 2002}},
                     {13, {3001, 3002, 3003}}});
  ASSERT_TRUE(s->DelPolicy(11).ok());
  ASSERT_TRUE(s->DelPolicy(12).ok());
  ExpectContent(*s, {{1, {2001, 2002, 3001, 3002, 3003}}, {13, {3001, 3002, 3003}}});
  ASSERT_TRUE(s->DelPod("p4").ok());
  ExpectContent(*s, {{1, {2001, 2002, 3001}}, {13, {3001}}});
  ASSERT_TRUE(s->DelPolicy(13).ok());
  for (const char* p : {"p1", "p2", "p3"}) ASSERT_TRUE(s->DelPod(p).ok());
  ExpectContent(*s, {{1, {}}});
}

// Tetragon's TestStateHostSelector.
TEST(PolicyFilterStateTest, HostSelector) {
  auto s = NewState();
  ASSERT_TRUE(s->AddPodContainer(Pod("p1", "ns1"), Cont("c1", 4001)).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p2", "ns2"), Cont("c2", 4002)).ok());
  LabelSelector ns1_expr =
      Sel({}, {Requirement{kPodNamespaceLabel, Operator::kIn, {"ns1"}}});
  ASSERT_TRUE(s->AddPolicy(11, "", std::nullopt, std::nullopt, Sel({})).ok());
  ASSERT_TRUE(s->AddPolicy(12, "ns1", Sel({}), Sel({}), Sel({})).ok());
  ASSERT_TRUE(s->AddPolicy(13, "", ns1_expr, Sel({}), Sel({})).ok());
  // With a hostSelector, an absent pod or container selector selects no pod.
  ASSERT_TRUE(s->AddPolicy(14, "ns1", std::nullopt, Sel({}), Sel({})).ok());
  ASSERT_TRUE(s->AddPolicy(15, "ns1", ns1_expr, std::nullopt, Sel({})).ok());
  ExpectContent(*s, {{1, {4001, 4002}},
                     {11, {kHost}},
                     {12, {4001, kHost}},
                     {13, {4001, kHost}},
                     {14, {kHost}},
                     {15, {kHost}}});
  EXPECT_THAT(s->PoliciesOfCgroup(kHost), ::testing::ElementsAre(11, 12, 13, 14, 15));
  ASSERT_TRUE(s->DelPodContainer("p1", "c1").ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p3", "ns1"), Cont("c1", 4003)).ok());
  ExpectContent(*s, {{1, {4002, 4003}},
                     {11, {kHost}},
                     {12, {4003, kHost}},
                     {13, {4003, kHost}},
                     {14, {kHost}},
                     {15, {kHost}}});
  for (uint32_t id : {11, 13, 15, 14}) ASSERT_TRUE(s->DelPolicy(id).ok());
  ASSERT_TRUE(s->DelPod("p2").ok());
  ASSERT_TRUE(s->DelPod("p3").ok());
  ExpectContent(*s, {{1, {}}, {12, {kHost}}});
}

TEST(PolicyFilterStateTest, NonEmptyHostSelectorIsRefused) {
  auto s = NewState();
  absl::Status st = s->AddPolicy(11, "", std::nullopt, std::nullopt, Sel({{"a", "b"}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("hostSelector"));
}

// Label selector semantics, one row per case: does policy 11 select the pod?
struct SelectorCase {
  const char* name;
  std::string policy_ns;
  std::optional<LabelSelector> pod_sel, cont_sel;
  std::string pod_ns;
  labels::Labels pod_labels;
  std::string cont_name, cont_repo;
  bool selected;
};

class SelectorTableTest : public ::testing::TestWithParam<SelectorCase> {};

TEST_P(SelectorTableTest, Selects) {
  const SelectorCase& c = GetParam();
  auto s = NewState();
  ASSERT_TRUE(s->AddPolicy(11, c.policy_ns, c.pod_sel, c.cont_sel, std::nullopt).ok());
  ASSERT_TRUE(
      s->AddPodContainer(Pod("p", c.pod_ns, c.pod_labels), Cont("c", 77, c.cont_name, c.cont_repo))
          .ok());
  std::vector<uint64_t> want;
  if (c.selected) want = {77};
  EXPECT_EQ(s->CgroupsOfPolicy(11), want) << c.name;
  std::vector<uint32_t> pols = {1};
  if (c.selected) pols.push_back(11);
  EXPECT_EQ(s->PoliciesOfCgroup(77), pols);
}

const labels::Labels kAppA = {{"app", "a"}, {"tier", "web"}};

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorTableTest,
    ::testing::Values(
        SelectorCase{"no selectors", "", std::nullopt, std::nullopt, "ns", kAppA, "main", "", true},
        SelectorCase{"empty selectors", "", Sel({}), Sel({}), "ns", {}, "main", "", true},
        SelectorCase{"matchLabels hit", "", Sel({{"app", "a"}}), std::nullopt, "ns", kAppA, "m",
                     "", true},
        SelectorCase{"matchLabels miss", "", Sel({{"app", "b"}}), std::nullopt, "ns", kAppA, "m",
                     "", false},
        SelectorCase{"matchLabels all must hold", "", Sel({{"app", "a"}, {"tier", "db"}}),
                     std::nullopt, "ns", kAppA, "m", "", false},
        SelectorCase{"In hit", "", Sel({}, {{"app", Operator::kIn, {"x", "a"}}}), std::nullopt,
                     "ns", kAppA, "m", "", true},
        SelectorCase{"In absent key", "", Sel({}, {{"zone", Operator::kIn, {"a"}}}), std::nullopt,
                     "ns", kAppA, "m", "", false},
        SelectorCase{"NotIn hit", "", Sel({}, {{"app", Operator::kNotIn, {"a"}}}), std::nullopt,
                     "ns", kAppA, "m", "", false},
        SelectorCase{"NotIn absent key matches", "", Sel({}, {{"zone", Operator::kNotIn, {"a"}}}),
                     std::nullopt, "ns", kAppA, "m", "", true},
        SelectorCase{"Exists", "", Sel({}, {{"tier", Operator::kExists, {}}}), std::nullopt, "ns",
                     kAppA, "m", "", true},
        SelectorCase{"Exists absent", "", Sel({}, {{"zone", Operator::kExists, {}}}), std::nullopt,
                     "ns", kAppA, "m", "", false},
        SelectorCase{"DoesNotExist", "", Sel({}, {{"zone", Operator::kDoesNotExist, {}}}),
                     std::nullopt, "ns", kAppA, "m", "", true},
        SelectorCase{"DoesNotExist present", "", Sel({}, {{"app", Operator::kDoesNotExist, {}}}),
                     std::nullopt, "ns", kAppA, "m", "", false},
        SelectorCase{"namespaced policy, same ns", "ns", std::nullopt, std::nullopt, "ns", {}, "m",
                     "", true},
        SelectorCase{"namespaced policy, other ns", "ns", std::nullopt, std::nullopt, "other", {},
                     "m", "", false},
        SelectorCase{"namespace label", "", Sel({{kPodNamespaceLabel, "ns"}}), std::nullopt, "ns",
                     {}, "m", "", true},
        SelectorCase{"namespace label other", "", Sel({{kPodNamespaceLabel, "x"}}), std::nullopt,
                     "ns", {}, "m", "", false},
        SelectorCase{"container name", "", std::nullopt, Sel({{"name", "main"}}), "ns", {}, "main",
                     "", true},
        SelectorCase{"container name other", "", std::nullopt, Sel({{"name", "main"}}), "ns", {},
                     "sidecar", "", false},
        SelectorCase{"container repo", "", std::nullopt,
                     Sel({}, {{"repo", Operator::kIn, {"docker.io/nginx"}}}), "ns", {}, "web",
                     "docker.io/nginx", true},
        SelectorCase{"pod and container both needed", "", Sel({{"app", "a"}}),
                     Sel({{"name", "db"}}), "ns", kAppA, "main", "", false}),
    [](const ::testing::TestParamInfo<SelectorCase>& info) {
      std::string n = info.param.name;
      for (char& ch : n) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(PolicyFilterStateTest, UpdatePodRelabelsAndDiffsContainers) {
  auto s = NewState();
  ASSERT_TRUE(s->AddPolicy(11, "", Sel({{"app", "a"}}), std::nullopt, std::nullopt).ok());
  ASSERT_TRUE(s->AddPolicy(12, "", Sel({{"app", "b"}}), std::nullopt, std::nullopt).ok());
  ASSERT_TRUE(s->UpdatePod(Pod("p", "ns", {{"app", "a"}}), {Cont("c1", 10), Cont("c2", 20)}).ok());
  ExpectContent(*s, {{1, {10, 20}}, {11, {10, 20}}, {12, {}}});
  ASSERT_TRUE(s->UpdatePod(Pod("p", "ns", {{"app", "b"}}), {Cont("c2", 20), Cont("c3", 30)}).ok());
  ExpectContent(*s, {{1, {20, 30}}, {11, {}}, {12, {20, 30}}});
  // Pod labels are not changed by AddPodContainer on a known pod.
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns", {{"app", "a"}}), Cont("c4", 40)).ok());
  ExpectContent(*s, {{1, {20, 30, 40}}, {11, {}}, {12, {20, 30, 40}}});
  ASSERT_TRUE(s->UpdatePod(Pod("p", "ns", {{"app", "b"}}), {}).ok());
  ExpectContent(*s, {{1, {}}, {11, {}}, {12, {}}});
}

TEST(PolicyFilterStateTest, SharedCgroupStaysWhileAnyContainerHasIt) {
  auto s = NewState();
  ASSERT_TRUE(s->AddPolicy(11, "a", std::nullopt, std::nullopt, std::nullopt).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p1", "a"), Cont("c1", 5)).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p2", "b"), Cont("c2", 5)).ok());
  ExpectContent(*s, {{1, {5}}, {11, {5}}});
  ASSERT_TRUE(s->DelPod("p2").ok());
  ExpectContent(*s, {{1, {5}}, {11, {5}}});
  ASSERT_TRUE(s->DelPod("p1").ok());
  ExpectContent(*s, {{1, {}}, {11, {}}});
}

TEST(PolicyFilterStateTest, BadInputIsRefusedWithClearErrors) {
  auto s = NewState();
  EXPECT_EQ(s->AddPolicy(0, "", {}, {}, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->AddPolicy(1, "", {}, {}, {}).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(s->AddPolicy(11, "", {}, {}, {}).ok());
  EXPECT_EQ(s->AddPolicy(11, "", {}, {}, {}).code(), absl::StatusCode::kAlreadyExists);
  absl::Status st = s->AddPolicy(12, "", Sel({}, {{"k", Operator::kIn, {}}}), {}, {});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("podSelector.matchExpressions[0]"));
  EXPECT_EQ(s->AddPodContainer(Pod("", "ns"), Cont("c", 3)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->AddPodContainer(Pod("p", "ns"), Cont("c", 0)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->AddPodContainer(Pod("p", "ns"), Cont("c", kHost)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s->UpdatePod(Pod("p", "ns"), {Cont("c", 3), Cont("c", 4)}).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns"), Cont("c", 3)).ok());
  EXPECT_EQ(s->AddPodContainer(Pod("p", "other"), Cont("d", 4)).code(),
            absl::StatusCode::kFailedPrecondition);
  // Nothing half-applied by the refused calls.
  ExpectContent(*s, {{1, {3}}, {11, {3}}});
  // Unknown things are no-ops, as upstream.
  EXPECT_TRUE(s->DelPolicy(0).ok());
  EXPECT_TRUE(s->DelPolicy(999).ok());
  EXPECT_TRUE(s->DelPod("nope").ok());
  EXPECT_TRUE(s->DelPodContainer("p", "nope").ok());
  EXPECT_EQ(s->DelPolicy(1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(PolicyFilterStateTest, FullMapIsAnErrorAndRollsBack) {
  PolicyFilterOptions o;
  o.use_bpf = false;
  o.max_cgroups_per_policy = 2;
  auto s = std::move(*PolicyFilterState::Create(o));
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns"), Cont("c1", 1001)).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns"), Cont("c2", 1002)).ok());
  // The all-pods policy is full: the third container is refused entirely.
  absl::Status st = s->AddPodContainer(Pod("p", "ns"), Cont("c3", 1003));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  ExpectContent(*s, {{1, {1001, 1002}}});
  // A policy that would need 3 cgroups cannot exist half-filled either.
  EXPECT_EQ(s->AddPolicy(11, "", Sel({}), Sel({}), Sel({})).code(),
            absl::StatusCode::kResourceExhausted);
  ExpectContent(*s, {{1, {1001, 1002}}});
  EXPECT_TRUE(s->AddPolicy(11, "", {}, {}, {}).ok());
}

TEST(PolicyFilterStateTest, PodVersionMovesWithEveryPodChange) {
  auto s = NewState();
  uint64_t v = s->pod_version();
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns"), Cont("c1", 10)).ok());
  EXPECT_GT(s->pod_version(), v);
  v = s->pod_version();
  ASSERT_TRUE(s->AddPolicy(11, "", Sel({}), Sel({}), Sel({})).ok());
  EXPECT_EQ(s->pod_version(), v);  // policies do not change what a pod is
  ASSERT_TRUE(s->UpdatePod(Pod("p", "ns"), {Cont("c1", 10)}).ok());
  EXPECT_GT(s->pod_version(), v);
  v = s->pod_version();
  ASSERT_TRUE(s->DelPodContainer("p", "c1").ok());
  EXPECT_GT(s->pod_version(), v);
  v = s->pod_version();
  ASSERT_TRUE(s->DelPod("p").ok());
  EXPECT_GT(s->pod_version(), v);
}

TEST(PolicyFilterStateTest, ObserversSeeChangedCgroups) {
  auto s = NewState();
  std::vector<std::vector<uint64_t>> seen;
  s->AddObserver([&](const std::vector<uint64_t>& cgs) { seen.push_back(cgs); });
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns"), Cont("c1", 10)).ok());
  ASSERT_TRUE(s->AddPolicy(11, "", Sel({}), Sel({}), Sel({})).ok());
  ASSERT_TRUE(s->DelPolicy(11).ok());
  ASSERT_TRUE(s->DelPod("nope").ok());  // no change, no call
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::vector<uint64_t>({10}));
  EXPECT_EQ(seen[1], std::vector<uint64_t>({10, kHost}));
  EXPECT_EQ(seen[2], std::vector<uint64_t>({10, kHost}));
  ExpectContent(*s, {{1, {10}}});
}

TEST(PolicyFilterStateTest, PodOfCgroupFollowsTheRegistry) {
  auto s = NewState();
  EXPECT_FALSE(s->PodOfCgroup(10).has_value());
  ContainerInfo c1{"ctr-1", "main", "docker.io/library/nginx", 10, "", "docker.io/library/nginx:1.25"};
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns", {{"app", "web"}}), c1).ok());
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns"), Cont("ctr-2", 20, "sidecar")).ok());
  std::optional<PodContainer> pc = s->PodOfCgroup(10);
  ASSERT_TRUE(pc.has_value());
  EXPECT_EQ(pc->pod.uid, "p");
  EXPECT_EQ(pc->pod.name, "p-name");
  EXPECT_EQ(pc->pod.ns, "ns");
  EXPECT_EQ(pc->pod.labels, (labels::Labels{{"app", "web"}}));
  EXPECT_EQ(pc->container.id, "ctr-1");
  EXPECT_EQ(pc->container.name, "main");
  EXPECT_EQ(pc->container.repo, "docker.io/library/nginx");
  EXPECT_EQ(pc->container.image, "docker.io/library/nginx:1.25");
  EXPECT_EQ(pc->container.cgroup_id, 10u);
  ASSERT_TRUE(s->PodOfCgroup(20).has_value());
  EXPECT_EQ(s->PodOfCgroup(20)->container.name, "sidecar");
  // Without BPF there is no tracker: an unknown cgroup is just unknown.
  EXPECT_FALSE(s->PodOfCgroup(11).has_value());
  EXPECT_FALSE(s->PodOfCgroup(0).has_value());

  // UpdatePod relabels and moves containers; the lookup follows.
  ASSERT_TRUE(s->UpdatePod(Pod("p", "ns", {{"app", "v2"}}), {Cont("ctr-3", 30, "new")}).ok());
  EXPECT_FALSE(s->PodOfCgroup(10).has_value());
  EXPECT_FALSE(s->PodOfCgroup(20).has_value());
  ASSERT_TRUE(s->PodOfCgroup(30).has_value());
  EXPECT_EQ(s->PodOfCgroup(30)->pod.labels, (labels::Labels{{"app", "v2"}}));

  // A cgroup shared by two pods stays known until both are gone.
  ASSERT_TRUE(s->AddPodContainer(Pod("q", "other"), Cont("ctr-4", 30, "q-main")).ok());
  ASSERT_TRUE(s->DelPodContainer("p", "ctr-3").ok());
  ASSERT_TRUE(s->PodOfCgroup(30).has_value());
  EXPECT_EQ(s->PodOfCgroup(30)->pod.uid, "q");
  ASSERT_TRUE(s->DelPod("q").ok());
  EXPECT_FALSE(s->PodOfCgroup(30).has_value());
}

TEST(PolicyFilterStateTest, PodOfCgroupIsUnchangedByARefusedChange) {
  PolicyFilterOptions o;
  o.use_bpf = false;
  o.max_cgroups_per_policy = 1;
  auto s = std::move(*PolicyFilterState::Create(o));
  ASSERT_TRUE(s->AddPodContainer(Pod("p", "ns"), Cont("c1", 1001)).ok());
  EXPECT_EQ(s->AddPodContainer(Pod("p", "ns"), Cont("c2", 1002)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s->UpdatePod(Pod("p", "ns"), {Cont("c1", 1001), Cont("c3", 1003)}).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(s->PodOfCgroup(1002).has_value());
  EXPECT_FALSE(s->PodOfCgroup(1003).has_value());
  ASSERT_TRUE(s->PodOfCgroup(1001).has_value());
  EXPECT_EQ(s->PodOfCgroup(1001)->container.id, "c1");
}

}  // namespace
// The pod index (AddPolicy looks only at the pods a policy can select) gives
// what matching every pod gives: random pods, relabels and deletes, and
// policies with namespaces, matchLabels, In/NotIn/Exists/DoesNotExist and the
// namespace label, checked against a brute-force matcher.
TEST(PolicyFilterStateTest, PodIndexAgreesWithMatchingEveryPod) {
  auto s = NewState();
  std::mt19937 rng(14);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> nss = {"ns0", "ns1", "ns2"};
  auto random_labels = [&] {
    labels::Labels l;
    for (const char* k : {"app", "tier", "team"}) {
      if (pick(3) != 0) l[k] = absl::StrCat(k, pick(4));
    }
    if (pick(10) == 0) l[kPodNamespaceLabel] = "explicit";
    return l;
  };
  std::map<std::string, PodInfo> pods;  // uid -> info (container "c" in cgroup 5000 + i)
  std::map<std::string, uint64_t> cgroup_of;
  auto random_selector = [&]() -> std::optional<LabelSelector> {
    if (pick(4) == 0) return std::nullopt;
    LabelSelector sel;
    if (pick(2)) sel.match_labels["app"] = absl::StrCat("app", pick(4));
    if (pick(3) == 0) sel.match_labels[kPodNamespaceLabel] = nss[pick(3)];
    if (pick(2)) {
      Requirement r;
      r.key = pick(2) ? "tier" : "team";
      r.op = static_cast<Operator>(pick(4));
      if (r.op == Operator::kIn || r.op == Operator::kNotIn) {
        for (int i = 0, n = 1 + pick(3); i < n; ++i) r.values.push_back(absl::StrCat(r.key, pick(4)));
      }
      sel.match_expressions.push_back(r);
    }
    return sel;
  };
  struct P {
    std::string ns;
    std::optional<LabelSelector> sel;
  };
  std::map<uint32_t, P> policies;
  auto expected = [&](const P& p) {
    std::set<uint64_t> out;
    for (const auto& [uid, info] : pods) {
      if (!p.ns.empty() && info.ns != p.ns) continue;
      labels::Labels l = info.labels;
      l.emplace(kPodNamespaceLabel, info.ns);
      if (p.sel && !labels::Matches(*p.sel, l)) continue;
      out.insert(cgroup_of[uid]);
    }
    return out;
  };
  uint32_t next_policy = 100;
  for (int step = 0; step < 600; ++step) {
    int op = pick(6);
    std::string uid = absl::StrCat("pod", pick(40));
    if (op <= 1) {
      PodInfo info = Pod(uid, pods.count(uid) ? pods[uid].ns : nss[pick(3)], random_labels());
      cgroup_of[uid] = 5000 + std::stoi(uid.substr(3));
      ASSERT_TRUE(s->UpdatePod(info, {Cont("c", cgroup_of[uid])}).ok());
      pods[uid] = info;
    } else if (op == 2) {
      ASSERT_TRUE(s->DelPod(uid).ok());
      pods.erase(uid);
    } else if (op == 3 || policies.empty()) {
      P p{pick(3) == 0 ? nss[pick(3)] : "", random_selector()};
      uint32_t id = next_policy++;
      ASSERT_TRUE(s->AddPolicy(id, p.ns, p.sel, std::nullopt, std::nullopt).ok());
      policies[id] = p;
    } else if (op == 4) {
      auto it = std::next(policies.begin(), pick(policies.size()));
      ASSERT_TRUE(s->DelPolicy(it->first).ok());
      policies.erase(it);
    }
    if (op == 3 || op == 5) {
      for (const auto& [id, p] : policies) {
        std::vector<uint64_t> got = s->CgroupsOfPolicy(id);
        std::set<uint64_t> want = expected(p);
        ASSERT_EQ(std::set<uint64_t>(got.begin(), got.end()), want) << "policy " << id << " at step " << step;
      }
    }
  }
}

}  // namespace tgd
