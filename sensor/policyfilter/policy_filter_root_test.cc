// Root tests: the real BPF maps. Layout against the BTF of a built object,
// a real process in a real cgroup seen through a BPF program, the cgroup
// tracker, a seeded random property test (maps == model, each map the exact
// reverse of the other), full maps, and opening "Tetragon's" pinned maps.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "compat/policyfilter/policy_filter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sensor/bpfcore/bpf_owners.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/policyfilter/cgroup_tracker.h"
#include "sensor/policyfilter/filter_maps.h"
#include "sensor/policyfilter/testdata/pf_probe.h"  // before the skeleton
#include "sensor/policyfilter/pf_probe.skel.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/policymgr/filter_ids.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using labels::Operator;
using ::testing::HasSubstr;
constexpr uint64_t kHost = kHostSelectorCgroupKey;

// A throwaway bpffs directory, emptied and removed at scope exit.
class TempBpfDir {
 public:
  TempBpfDir() {
    static int n = 0;
    path_ = absl::StrCat("/sys/fs/bpf/tgd-test-pf-", getpid(), "-", n++);
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

#define SKIP_UNLESS_ROOT()                                              \
  do {                                                                  \
    std::string why = testing::RootTestSkipReason();                    \
    if (!why.empty()) GTEST_SKIP() << why;                              \
  } while (0)

LabelSelector Sel(labels::Labels m, std::vector<labels::Requirement> e = {}) {
  return LabelSelector{std::move(m), std::move(e)};
}

void ExpectMapsEqualModel(const PolicyFilterState& s) {
  auto kernel = ReadPolicyFilterMaps(s.policy_filter_maps_fd(), s.policy_filter_cgroup_maps_fd());
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  PolicyFilterContent model = s.Content();
  EXPECT_EQ(kernel->policies, model.policies);
  EXPECT_EQ(kernel->cgroups, model.cgroups);
  EXPECT_EQ(kernel->cgroups, ReverseOf(kernel->policies));
}

uint32_t MapInfoField(int fd, uint32_t bpf_map_info::*field) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
  return info.*field;
}

TEST(PolicyFilterRootTest, LayoutMatchesBtfOfBuiltObject) {
  SKIP_UNLESS_ROOT();
  InstallLibbpfLogging();
  Skeleton<pf_probe> skel(pf_probe::open());
  ASSERT_NE(skel, nullptr);
  struct Want {
    bpf_map* map;
    uint32_t type, key, value, inner_key;
  } wants[] = {
      {skel->maps.policy_filter_maps, BPF_MAP_TYPE_HASH_OF_MAPS, sizeof(tg_policy_id_t), 4,
       sizeof(tg_cgroup_id_t)},
      {skel->maps.policy_filter_cgroup_maps, BPF_MAP_TYPE_HASH_OF_MAPS, sizeof(tg_cgroup_id_t), 4,
       sizeof(tg_policy_id_t)},
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(bpf_map__name(w.map));
    EXPECT_EQ(bpf_map__type(w.map), w.type);
    EXPECT_EQ(bpf_map__key_size(w.map), w.key);
    EXPECT_EQ(bpf_map__value_size(w.map), w.value);
    bpf_map* inner = bpf_map__inner_map(w.map);
    ASSERT_NE(inner, nullptr);
    EXPECT_EQ(bpf_map__type(inner), BPF_MAP_TYPE_HASH);
    EXPECT_EQ(bpf_map__key_size(inner), w.inner_key);
    EXPECT_EQ(bpf_map__value_size(inner), sizeof(tg_policy_filter_val_t));
  }
  EXPECT_EQ(bpf_map__key_size(skel->maps.tg_cgtracker_map), 8u);
  EXPECT_EQ(bpf_map__value_size(skel->maps.tg_cgtracker_map), 8u);

  // The maps user space creates have the same layout, and the object loads
  // against them (the kernel checks the inner map templates).
  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  PolicyFilterOptions o;
  o.bpf_dir = dir.path();
  o.cgtracker_program = false;
  auto s = PolicyFilterState::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  int pfd = (*s)->policy_filter_maps_fd(), cfd = (*s)->policy_filter_cgroup_maps_fd();
  EXPECT_EQ(MapInfoField(pfd, &bpf_map_info::key_size), bpf_map__key_size(wants[0].map));
  EXPECT_EQ(MapInfoField(cfd, &bpf_map_info::key_size), bpf_map__key_size(wants[1].map));
  EXPECT_GE(MapInfoField(pfd, &bpf_map_info::max_entries), 10001u);
  EXPECT_GE(MapInfoField(cfd, &bpf_map_info::max_entries), 10001u);
  ASSERT_EQ(bpf_map__reuse_fd(skel->maps.policy_filter_maps, pfd), 0);
  ASSERT_EQ(bpf_map__reuse_fd(skel->maps.policy_filter_cgroup_maps, cfd), 0);
  ASSERT_EQ(bpf_map__reuse_fd(skel->maps.tg_cgtracker_map, (*s)->cgtracker_fd()), 0);
  EXPECT_EQ(pf_probe::load(skel.get()), 0);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/policy_filter_maps"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/policy_filter_cgroup_maps"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/tg_cgtracker_map"));
}

// A child process in a real container cgroup's sub-cgroup: the BPF program
// sees bpf_get_current_cgroup_id() == the directory's inode, the tracker maps
// it to the container cgroup, and the policy is in both maps for it.
TEST(PolicyFilterRootTest, RealProcessInRealCgroupAgreesWithRegistry) {
  SKIP_UNLESS_ROOT();
  InstallLibbpfLogging();
  auto container = testing::TestCgroup::Create("pf-container");
  ASSERT_TRUE(container.ok()) << container.status();
  auto before = (*container)->CreateChild("before");  // exists before tracking
  ASSERT_TRUE(before.ok()) << before.status();
  auto id = CgroupIdOfPath((*container)->path());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, (*container)->id());

  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  PolicyFilterOptions o;
  o.bpf_dir = dir.path();
  auto s = PolicyFilterState::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  PolicyFilterState& st = **s;
  ASSERT_TRUE(st.AddPolicy(11, "default", Sel({{"app", "a"}}), std::nullopt, std::nullopt).ok());
  ASSERT_TRUE(st.AddPolicy(12, "default", Sel({{"app", "b"}}), std::nullopt, std::nullopt).ok());
  ASSERT_TRUE(st.AddPodContainer(PodInfo{"uid-a", "pod-a", "default", {{"app", "a"}}},
                                 ContainerInfo{"ctr-a", "main", "", (*container)->id(),
                                               (*container)->path()})
                  .ok());
  EXPECT_THAT(st.PoliciesOfCgroup((*container)->id()), ::testing::ElementsAre(1, 11));
  ExpectMapsEqualModel(st);

  // Sub-cgroup made after tracking: the raw_tp program (or a rescan) maps it.
  auto sub = (*container)->CreateChild("sub");
  ASSERT_TRUE(sub.ok()) << sub.status();
  CgroupTracker* tracker = st.cgroup_tracker();
  ASSERT_NE(tracker, nullptr);
  if (!tracker->program_attached()) {
    std::cout << "cgroup tracker program not attached here; checking the scan fallback\n";
    ASSERT_TRUE(tracker->Rescan().ok());
  }
  for (uint64_t child : {(*before)->id(), (*sub)->id()}) {
    uint64_t v = 0;
    ASSERT_EQ(bpf_map_lookup_elem(st.cgtracker_fd(), &child, &v), 0) << child;
    EXPECT_EQ(v, (*container)->id());
  }

  int go[2];
  ASSERT_EQ(pipe(go), 0);
  auto pid = (*sub)->SpawnFn([&]() {
    char c;
    close(go[1]);
    if (read(go[0], &c, 1) != 1) return 3;
    for (int i = 0; i < 50; ++i) getppid();
    return 0;
  });
  close(go[0]);
  ASSERT_TRUE(pid.ok()) << pid.status();
  Skeleton<pf_probe> skel(pf_probe::open());
  ASSERT_NE(skel, nullptr);
  skel->rodata->target_tgid = *pid;
  skel->rodata->want_policy = 11;
  bpf_map__reuse_fd(skel->maps.policy_filter_maps, st.policy_filter_maps_fd());
  bpf_map__reuse_fd(skel->maps.policy_filter_cgroup_maps, st.policy_filter_cgroup_maps_fd());
  bpf_map__reuse_fd(skel->maps.tg_cgtracker_map, st.cgtracker_fd());
  int load = pf_probe::load(skel.get());
  int attach = load == 0 ? pf_probe::attach(skel.get()) : -1;
  ASSERT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  auto status = testing::WaitChild(*pid);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  ASSERT_EQ(load, 0);
  ASSERT_EQ(attach, 0);
  auto sub_id = CgroupIdOfPath((*sub)->path());
  ASSERT_TRUE(sub_id.ok());
  EXPECT_GE(skel->bss->result.hits, 50u);
  EXPECT_EQ(skel->bss->result.cgroup_id, *sub_id);
  EXPECT_EQ(skel->bss->result.tracked_id, (*container)->id());
  EXPECT_EQ(skel->bss->result.in_cgroup_row, 1u);
  EXPECT_EQ(skel->bss->result.in_policy_column, 1u);

  // PodOfCgroup resolves the container's own cgroup and, through the
  // tracker map, its sub-cgroups (made before and after tracking).
  for (uint64_t cg : {(*container)->id(), (*before)->id(), *sub_id}) {
    std::optional<PodContainer> pc = st.PodOfCgroup(cg);
    ASSERT_TRUE(pc.has_value()) << cg;
    EXPECT_EQ(pc->pod.name, "pod-a");
    EXPECT_EQ(pc->container.id, "ctr-a");
    EXPECT_EQ(pc->container.cgroup_id, (*container)->id());
  }
  EXPECT_FALSE(st.PodOfCgroup(1).has_value());  // the root cgroup: not a pod

  // Removing the container removes its cgroup from the maps and the tracker.
  ASSERT_TRUE(st.DelPod("uid-a").ok());
  EXPECT_TRUE(st.PoliciesOfCgroup((*container)->id()).empty());
  ExpectMapsEqualModel(st);
  uint64_t key = (*sub)->id(), v = 0;
  EXPECT_NE(bpf_map_lookup_elem(st.cgtracker_fd(), &key, &v), 0);
  EXPECT_FALSE(st.PodOfCgroup((*container)->id()).has_value());
  EXPECT_FALSE(st.PodOfCgroup(*sub_id).has_value());
}

// A cgroup v1 directory (hybrid hosts), removed at scope exit.
class V1Cgroup {
 public:
  V1Cgroup(const std::string& parent, const std::string& name) : path_(parent + "/" + name) {
    ok_ = mkdir(path_.c_str(), 0755) == 0;
  }
  ~V1Cgroup() { Remove(); }
  void Remove() {
    if (ok_) rmdir(path_.c_str());
    ok_ = false;
  }
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  uint64_t id() const { return *CgroupIdOfPath(path_); }

 private:
  std::string path_;
  bool ok_ = false;
};

bool InTracker(int fd, uint64_t key, uint64_t* value = nullptr) {
  uint64_t v = 0;
  bool found = bpf_map_lookup_elem(fd, &key, &v) == 0;
  if (value) *value = v;
  return found;
}

// On a hybrid host a v1 cgroup's id comes from its own hierarchy and can
// equal a tracked v2 id: the tracker program must ignore v1 mkdirs and
// releases, and still follow v2 ones.
TEST(PolicyFilterRootTest, CgroupTrackerIgnoresCgroupV1Hierarchies) {
  SKIP_UNLESS_ROOT();
  InstallLibbpfLogging();
  auto v1_mount = FindMount("cgroup");
  if (!v1_mount.ok()) GTEST_SKIP() << "no cgroup v1 hierarchy mounted (not a hybrid host)";
  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  CgroupTrackerOptions to;
  to.pin_dir = dir.path();
  auto tracker = CgroupTracker::Create(to);
  ASSERT_TRUE(tracker.ok()) << tracker.status();
  if (!(*tracker)->program_attached()) GTEST_SKIP() << "cgroup tracker program not attached here";
  int fd = (*tracker)->map_fd();

  // A v1 parent whose id is "tracked" (as if a v2 container had that id).
  V1Cgroup v1_parent(*v1_mount, absl::StrCat("tgd-test-cgt-", getpid()));
  ASSERT_TRUE(v1_parent.ok()) << v1_parent.path() << ": " << strerror(errno);
  ASSERT_TRUE((*tracker)->Track(v1_parent.id(), "").ok());
  auto v2_parent = testing::TestCgroup::Create("pf-cgt-v2");
  ASSERT_TRUE(v2_parent.ok()) << v2_parent.status();
  ASSERT_TRUE((*tracker)->Track((*v2_parent)->id(), (*v2_parent)->path()).ok());

  V1Cgroup v1_child(v1_parent.path(), "child");
  ASSERT_TRUE(v1_child.ok());
  auto v2_child = (*v2_parent)->CreateChild("child");
  ASSERT_TRUE(v2_child.ok()) << v2_child.status();
  uint64_t v = 0;
  ASSERT_TRUE(InTracker(fd, (*v2_child)->id(), &v)) << "the v2 mkdir was not followed";
  EXPECT_EQ(v, (*v2_parent)->id());
  EXPECT_FALSE(InTracker(fd, v1_child.id())) << "a v1 mkdir was tracked";

  // Releases: an entry keyed like the v1 child (a v2 cgroup with the same
  // id) survives the v1 child's release; the v2 child's entry goes.
  uint64_t v1_key = v1_child.id(), stand_in = 4242;
  ASSERT_EQ(bpf_map_update_elem(fd, &v1_key, &stand_in, BPF_ANY), 0);
  v1_child.Remove();
  uint64_t v2_key = (*v2_child)->id();
  v2_child->reset();
  bool v2_released = false;
  for (int i = 0; i < 100 && !v2_released; ++i) {
    v2_released = !InTracker(fd, v2_key);
    if (!v2_released) usleep(50 * 1000);
  }
  ASSERT_TRUE(v2_released) << "the v2 release was not seen within 5 s";
  usleep(500 * 1000);  // the v1 release is queued at the same time
  EXPECT_TRUE(InTracker(fd, v1_key, &v)) << "a v1 release deleted a v2 entry";
  EXPECT_EQ(v, stand_in);
}

// Reference model, written independently of PolicyFilterState.
struct RefPolicy {
  std::string ns;
  std::optional<LabelSelector> pod, cont;
  bool host;
};
struct RefContainer {
  std::string id, name;
  uint64_t cg;
};
struct RefPod {
  std::string ns;
  labels::Labels labels;
  std::vector<RefContainer> containers;
};

std::map<uint32_t, std::set<uint64_t>> Expected(const std::map<uint32_t, RefPolicy>& pols,
                                                const std::map<std::string, RefPod>& pods) {
  std::map<uint32_t, std::set<uint64_t>> out;
  out[1];
  for (const auto& [uid, pod] : pods) {
    for (const RefContainer& c : pod.containers) out[1].insert(c.cg);
  }
  for (const auto& [id, p] : pols) {
    std::set<uint64_t>& col = out[id];
    if (p.host) col.insert(kHost);
    for (const auto& [uid, pod] : pods) {
      if (!p.ns.empty() && p.ns != pod.ns) continue;
      labels::Labels l = pod.labels;
      if (!l.count(kPodNamespaceLabel)) l[kPodNamespaceLabel] = pod.ns;
      bool pod_ok = p.pod ? labels::Matches(*p.pod, l) : !p.host;
      if (!pod_ok) continue;
      for (const RefContainer& c : pod.containers) {
        bool ok = p.cont ? labels::Matches(*p.cont, {{"name", c.name}, {"repo", ""}}) : !p.host;
        if (ok) col.insert(c.cg);
      }
    }
  }
  return out;
}

TEST(PolicyFilterRootTest, RandomOperationsKeepMapsEqualToModel) {
  SKIP_UNLESS_ROOT();
  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  PolicyFilterOptions o;
  o.bpf_dir = dir.path();
  o.cgtracker_program = false;
  auto created = PolicyFilterState::Create(o);
  ASSERT_TRUE(created.ok()) << created.status();
  PolicyFilterState& s = **created;

  std::mt19937 rng(20261123);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::vector<std::string> namespaces = {"ns-a", "ns-b", "ns-c"};
  const std::vector<std::string> apps = {"x", "y", "z"};
  const std::vector<std::string> names = {"main", "sidecar"};
  std::map<uint32_t, RefPolicy> pols;
  std::map<std::string, RefPod> pods;
  uint64_t next_cg = 50000;
  int next_ctr = 0;
  auto random_sel = [&](const char* key, const std::vector<std::string>& vals)
      -> std::optional<LabelSelector> {
    switch (pick(4)) {
      case 0:
        return std::nullopt;
      case 1:
        return Sel({});
      case 2:
        return Sel({{key, vals[pick(vals.size())]}});
      default:
        return Sel({}, {{key, Operator::kNotIn, {vals[pick(vals.size())]}}});
    }
  };
  auto random_pod_uid = [&]() { return absl::StrCat("pod-", pick(12)); };
  auto ns_of = [&](const std::string& uid) { return namespaces[uid.back() % namespaces.size()]; };
  auto new_container = [&]() {
    return RefContainer{absl::StrCat("ctr-", next_ctr++), names[pick(2)], next_cg++};
  };
  auto to_info = [](const RefContainer& c) { return ContainerInfo{c.id, c.name, "", c.cg, ""}; };

  for (int step = 0; step < 400; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    int op = pick(6);
    if (op == 0) {
      uint32_t id = 2 + pick(20);
      RefPolicy p{pick(2) ? "" : namespaces[pick(3)], random_sel("app", apps),
                  random_sel("name", names), pick(4) == 0};
      absl::Status st = s.AddPolicy(id, p.ns, p.pod, p.cont,
                                    p.host ? std::optional<LabelSelector>(Sel({})) : std::nullopt);
      if (pols.count(id)) {
        EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
      } else {
        ASSERT_TRUE(st.ok()) << st;
        pols[id] = p;
      }
    } else if (op == 1) {
      uint32_t id = 2 + pick(20);
      ASSERT_TRUE(s.DelPolicy(id).ok());
      pols.erase(id);
    } else if (op == 2) {
      std::string uid = random_pod_uid();
      labels::Labels l = {{"app", apps[pick(3)]}};
      RefContainer c = new_container();
      ASSERT_TRUE(s.AddPodContainer(PodInfo{uid, uid, ns_of(uid), l}, to_info(c)).ok());
      auto [it, fresh] = pods.try_emplace(uid, RefPod{ns_of(uid), l, {}});
      it->second.containers.push_back(c);
    } else if (op == 3) {
      std::string uid = random_pod_uid();
      labels::Labels l = {{"app", apps[pick(3)]}};
      std::vector<RefContainer> cs;
      if (auto it = pods.find(uid); it != pods.end()) {
        for (const RefContainer& c : it->second.containers) {
          if (pick(3)) cs.push_back(c);
        }
      }
      for (int k = pick(3); k > 0; --k) cs.push_back(new_container());
      std::vector<ContainerInfo> infos;
      for (const RefContainer& c : cs) infos.push_back(to_info(c));
      ASSERT_TRUE(s.UpdatePod(PodInfo{uid, uid, ns_of(uid), l}, infos).ok());
      pods[uid] = RefPod{ns_of(uid), l, cs};
    } else if (op == 4) {
      auto it = pods.find(random_pod_uid());
      if (it == pods.end() || it->second.containers.empty()) continue;
      std::vector<RefContainer>& cs = it->second.containers;
      size_t k = pick(cs.size());
      ASSERT_TRUE(s.DelPodContainer(it->first, cs[k].id).ok());
      cs.erase(cs.begin() + k);
    } else {
      std::string uid = random_pod_uid();
      ASSERT_TRUE(s.DelPod(uid).ok());
      pods.erase(uid);
    }
    auto want = Expected(pols, pods);
    auto kernel = ReadPolicyFilterMaps(s.policy_filter_maps_fd(), s.policy_filter_cgroup_maps_fd());
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    ASSERT_EQ(kernel->policies, want);
    ASSERT_EQ(kernel->cgroups, ReverseOf(want));
    ASSERT_EQ(s.Content().policies, want);
  }
}

TEST(PolicyFilterRootTest, FullMapsRollBackInTheKernelToo) {
  SKIP_UNLESS_ROOT();
  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  PolicyFilterOptions o;
  o.bpf_dir = dir.path();
  o.cgtracker_program = false;
  o.max_policies = 3;
  o.max_cgroups = 2;
  auto created = PolicyFilterState::Create(o);
  ASSERT_TRUE(created.ok()) << created.status();
  PolicyFilterState& s = **created;
  ASSERT_TRUE(s.AddPolicy(11, "", Sel({}), Sel({}), Sel({})).ok());
  ASSERT_TRUE(s.AddPodContainer(PodInfo{"p", "p", "ns", {}}, ContainerInfo{"c1", "m", "", 71, ""}).ok());
  ASSERT_TRUE(s.AddPodContainer(PodInfo{"p", "p", "ns", {}}, ContainerInfo{"c2", "m", "", 72, ""}).ok());
  PolicyFilterContent before = s.Content();
  absl::Status st =
      s.AddPodContainer(PodInfo{"p", "p", "ns", {}}, ContainerInfo{"c3", "m", "", 73, ""});
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(s.Content(), before);
  ExpectMapsEqualModel(s);
  ASSERT_TRUE(s.AddPolicy(12, "", {}, {}, {}).ok());
  ASSERT_TRUE(s.AddPolicy(13, "", {}, {}, {}).ok());
  EXPECT_EQ(s.AddPolicy(14, "", {}, {}, {}).code(), absl::StatusCode::kResourceExhausted);
  ExpectMapsEqualModel(s);
}

TEST(PolicyFilterRootTest, InnerMapsGrowAndShrinkWithContent) {
  SKIP_UNLESS_ROOT();
  TempBpfDir dir;
  ASSERT_TRUE(dir.ok());
  PolicyFilterOptions o;
  o.bpf_dir = dir.path();
  o.cgtracker_program = false;
  auto created = PolicyFilterState::Create(o);
  ASSERT_TRUE(created.ok()) << created.status();
  PolicyFilterState& s = **created;
  for (uint32_t id = 2; id < 40; ++id) ASSERT_TRUE(s.AddPolicy(id, "", {}, {}, {}).ok());
  for (uint64_t cg = 1000; cg < 1100; ++cg) {
    ASSERT_TRUE(s.AddPodContainer(PodInfo{"p", "p", "ns", {}},
                                  ContainerInfo{absl::StrCat("c", cg), "m", "", cg, ""})
                    .ok());
  }
  ExpectMapsEqualModel(s);
  for (uint64_t cg = 1000; cg < 1095; ++cg) {
    ASSERT_TRUE(s.DelPodContainer("p", absl::StrCat("c", cg)).ok());
  }
  ExpectMapsEqualModel(s);
  // The row of a cgroup with 39 policies is a small map (walks stay cheap).
  uint64_t cg = 1099;
  uint32_t inner_id = 0;
  ASSERT_EQ(bpf_map_lookup_elem(s.policy_filter_cgroup_maps_fd(), &cg, &inner_id), 0);
  int inner = bpf_map_get_fd_by_id(inner_id);
  ASSERT_GE(inner, 0);
  EXPECT_LE(MapInfoField(inner, &bpf_map_info::max_entries), 64u);
  EXPECT_EQ(MapInfoField(inner, &bpf_map_info::map_flags), (uint32_t)BPF_F_NO_PREALLOC);
  close(inner);
}

// Maps pinned with Tetragon's layout and sizes, as a Tetragon agent leaves them.
struct FakeTetragon {
  int pol = -1, cg = -1;
  explicit FakeTetragon(const std::string& dir, uint32_t policy_key = 4, uint32_t inner_value = 1,
                        bool with_cgroup_map = true) {
    int t1 = bpf_map_create(BPF_MAP_TYPE_HASH, "tmpl", 8, inner_value, 32768, nullptr);
    LIBBPF_OPTS(bpf_map_create_opts, o1, .inner_map_fd = (__u32)t1);
    pol = bpf_map_create(BPF_MAP_TYPE_HASH_OF_MAPS, "policy_filter_m", policy_key, 4, 128, &o1);
    bpf_obj_pin(pol, (dir + "/policy_filter_maps").c_str());
    int t2 = bpf_map_create(BPF_MAP_TYPE_HASH, "tmpl", 4, 1, 128, nullptr);
    LIBBPF_OPTS(bpf_map_create_opts, o2, .inner_map_fd = (__u32)t2);
    if (with_cgroup_map) {
      cg = bpf_map_create(BPF_MAP_TYPE_HASH_OF_MAPS, "policy_filter_c", 8, 4, 1024, &o2);
      bpf_obj_pin(cg, (dir + "/policy_filter_cgroup_maps").c_str());
    }
    // Tetragon's own content: all-pods (1) {999}, its first tracing policy
    // (2) and policy 5, both {999}.
    uint8_t zero = 0;
    uint64_t cg999 = 999;
    for (uint32_t p : {kTetragonAllPodsPolicyId, 2u, 5u}) {
      int in = bpf_map_create(BPF_MAP_TYPE_HASH, "in", 8, inner_value, 32768, nullptr);
      std::vector<uint8_t> v(inner_value, 0);
      bpf_map_update_elem(in, &cg999, v.data(), BPF_ANY);
      uint32_t fd = in;
      std::vector<uint8_t> key(policy_key, 0);
      memcpy(key.data(), &p, 4);
      bpf_map_update_elem(pol, key.data(), &fd, BPF_ANY);
      close(in);
    }
    if (cg >= 0) {
      int in = bpf_map_create(BPF_MAP_TYPE_HASH, "in", 4, 1, 128, nullptr);
      for (uint32_t p : {kTetragonAllPodsPolicyId, 2u, 5u}) bpf_map_update_elem(in, &p, &zero, BPF_ANY);
      uint32_t fd = in;
      bpf_map_update_elem(cg, &cg999, &fd, BPF_ANY);
      close(in);
    }
    close(t1);
    close(t2);
  }
  ~FakeTetragon() {
    close(pol);
    if (cg >= 0) close(cg);
  }
};

TEST(PolicyFilterRootTest, OpensTetragonPinsAndLeavesTheirEntriesAlone) {
  SKIP_UNLESS_ROOT();
  TempBpfDir tg, own;
  ASSERT_TRUE(tg.ok() && own.ok());
  FakeTetragon fake(tg.path());
  auto initial = ReadPinnedPolicyFilterMaps(tg.path());
  ASSERT_TRUE(initial.ok()) << initial.status();
  {
    PolicyFilterOptions o;
    o.bpf_dir = own.path();
    o.tetragon_bpf_dir = tg.path();
    o.cgtracker_program = false;
    auto created = PolicyFilterState::Create(o);
    ASSERT_TRUE(created.ok()) << created.status();
    PolicyFilterState& s = **created;
    EXPECT_EQ(s.all_pods_id(), kAllPodsPolicyId);
    // The agent's ids are refused, so that an id never means two policies.
    EXPECT_EQ(s.AddPolicy(5, "", {}, {}, {}).code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(s.AddPolicy(2, "", {}, {}, {}).code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(s.AddPolicy(kAllPodsPolicyId, "", {}, {}, {}).code(),
              absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE(s.AddPolicy(11, "default", {}, {}, {}).ok());
    ASSERT_TRUE(
        s.AddPodContainer(PodInfo{"u", "pod", "default", {}}, ContainerInfo{"c", "m", "", 4242, ""})
            .ok());
    // Nothing of ours in the agent's maps; ours hold our pod and policy.
    auto now = ReadPinnedPolicyFilterMaps(tg.path());
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(*now, *initial);
    std::map<uint32_t, std::set<uint64_t>> want = {{kAllPodsPolicyId, {4242}}, {11, {4242}}};
    auto ours = ReadPinnedPolicyFilterMaps(own.path());
    ASSERT_TRUE(ours.ok()) << ours.status();
    EXPECT_EQ(ours->policies, want);
    EXPECT_EQ(ours->cgroups, ReverseOf(want));
  }
  {
    // The agent's maps are open read-only: the kernel refuses writes.
    FilterMapsOptions mo;
    mo.bpf_dir = own.path();
    mo.tetragon_bpf_dir = tg.path();
    auto maps = FilterMaps::Create(mo);
    ASSERT_TRUE(maps.ok()) << maps.status();
    ASSERT_GE((*maps)->agent_policy_map_fd(), 0);
    ASSERT_GE((*maps)->agent_cgroup_map_fd(), 0);
    int inner = bpf_map_create(BPF_MAP_TYPE_HASH, "in", 8, 1, 16, nullptr);
    ASSERT_GE(inner, 0);
    uint32_t p = 77, fd = inner;
    EXPECT_NE(bpf_map_update_elem((*maps)->agent_policy_map_fd(), &p, &fd, BPF_ANY), 0);
    EXPECT_EQ(errno, EPERM);
    uint64_t cg = 999;
    EXPECT_NE(bpf_map_delete_elem((*maps)->agent_cgroup_map_fd(), &cg), 0);
    close(inner);
  }
  auto after = ReadPinnedPolicyFilterMaps(tg.path());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *initial);
  EXPECT_NE(FormatPolicyFilterContent(*after, kTetragonAllPodsPolicyId).find("1(all-pods): 999"),
            std::string::npos);
}

// Beside Tetragon, filter ids come from a range of their own and skip the
// keys the agent's map holds now (also ones it added after we opened it).
TEST(PolicyFilterRootTest, FilterIdsBesideTetragonSkipIdsInItsMap) {
  SKIP_UNLESS_ROOT();
  TempBpfDir tg, own;
  ASSERT_TRUE(tg.ok() && own.ok());
  FakeTetragon fake(tg.path());
  PolicyFilterOptions o;
  o.bpf_dir = own.path();
  o.tetragon_bpf_dir = tg.path();
  o.cgtracker_program = false;
  auto created = PolicyFilterState::Create(o);
  ASSERT_TRUE(created.ok()) << created.status();
  PolicyFilterState& s = **created;
  ASSERT_TRUE(s.tetragon_mode());
  EXPECT_TRUE(s.PolicyIdInUse(5));  // the agent's policy
  EXPECT_TRUE(s.PolicyIdInUse(kAllPodsPolicyId));
  EXPECT_FALSE(s.PolicyIdInUse(kTetragonSideFirstFilterId));
  // The agent (or an earlier tgdispatch) adds an entry in our range.
  int in = bpf_map_create(BPF_MAP_TYPE_HASH, "in", 8, 1, 32768, nullptr);
  ASSERT_GE(in, 0);
  uint32_t stale = kTetragonSideFirstFilterId, fd = in;
  ASSERT_EQ(bpf_map_update_elem(fake.pol, &stale, &fd, BPF_ANY), 0);
  close(in);
  EXPECT_TRUE(s.PolicyIdInUse(stale));

  FilterIdAllocator ids =
      FilterIdAllocator::BesideTetragon([&](uint32_t id) { return s.PolicyIdInUse(id); });
  auto id = ids.Next();
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, kTetragonSideFirstFilterId + 1);
  ASSERT_TRUE(s.AddPolicy(*id, "", {}, {}, {}).ok());
  EXPECT_EQ(s.AddPolicy(stale, "", {}, {}, {}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*ids.Next(), kTetragonSideFirstFilterId + 2);
  ASSERT_TRUE(s.DelPolicy(*id).ok());
  ASSERT_EQ(bpf_map_delete_elem(fake.pol, &stale), 0);
}

TEST(PolicyFilterRootTest, RefusesTetragonPinsWithAnotherLayout) {
  SKIP_UNLESS_ROOT();
  struct Case {
    uint32_t policy_key, inner_value;
    bool cgroup_map;
    const char* want;
  } cases[] = {
      {8, 1, true, "key size is 8 bytes, expected 4"},
      {4, 8, true, "(inner map): value size is 8 bytes, expected 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    TempBpfDir tg, own;
    ASSERT_TRUE(tg.ok() && own.ok());
    FakeTetragon fake(tg.path(), c.policy_key, c.inner_value, c.cgroup_map);
    PolicyFilterOptions o;
    o.bpf_dir = own.path();
    o.tetragon_bpf_dir = tg.path();
    o.cgtracker_program = false;
    auto created = PolicyFilterState::Create(o);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(created.status().message()), HasSubstr(c.want));
  }
  TempBpfDir empty, own;
  PolicyFilterOptions o;
  o.bpf_dir = own.path();
  o.tetragon_bpf_dir = empty.path();
  auto created = PolicyFilterState::Create(o);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tgd
