// Tests of the policy lifecycle and of the policy envelope parser, with a
// recording backend behind the PolicyBackend interface.
#include "sensor/policymgr/policy_manager.h"

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sensor/policymgr/recording_backend.h"

namespace tgd {
namespace {

using testing::BackendLog;
using testing::RecordingBackend;

std::string Policy(const std::string& name, const std::string& extra_spec = "",
                   const std::string& kind = "TracingPolicy", const std::string& ns = "") {
  return testing::TestPolicyYaml(name, extra_spec, kind, ns);
}

class PolicyManagerTest : public ::testing::Test {
 protected:
  BackendLog log_;
  RecordingBackend backend_{&log_};
  PolicyManager mgr_{&backend_};
};

TEST_F(PolicyManagerTest, AddListDelete) {
  ASSERT_TRUE(mgr_.Add(Policy("open-all")).ok());
  ASSERT_TRUE(mgr_.Add(Policy("scoped", "  podSelector:\n    matchLabels:\n      app: a\n")).ok());
  auto list = mgr_.List();
  ASSERT_EQ(list.size(), 2u);
  const auto& a = list[0].name() == "open-all" ? list[0] : list[1];
  const auto& s = list[0].name() == "scoped" ? list[0] : list[1];
  EXPECT_EQ(a.filter_id(), 0u);  // unscoped
  EXPECT_EQ(s.filter_id(), 2u);  // first id after the reserved 0 and 1
  EXPECT_EQ(a.state(), tetragon::TP_STATE_ENABLED);
  EXPECT_EQ(a.mode(), tetragon::TP_MODE_ENFORCE);
  EXPECT_EQ(a.kernel_memory_bytes(), 4096u);
  EXPECT_EQ(a.sensors(0), "dispatch:open-all");
  // Each counter in its own field of TracingPolicyActionCounters (signal 2,
  // override 4, ...), Override actions never under signal.
  const tetragon::TracingPolicyActionCounters& ac = a.stats().action_counters();
  EXPECT_EQ(ac.post(), 7u);
  EXPECT_EQ(ac.signal(), 1u);
  EXPECT_EQ(ac.monitor_signal(), 2u);
  EXPECT_EQ(ac.override(), 3u);
  EXPECT_EQ(ac.monitor_override(), 4u);
  EXPECT_EQ(ac.notify_enforcer(), 0u);
  EXPECT_EQ(ac.set(), 0u);
  EXPECT_NE(a.id(), s.id());
  EXPECT_EQ(mgr_.Sensors().size(), 2u);

  ASSERT_TRUE(mgr_.Delete("open-all", "").ok());
  EXPECT_EQ(log_.events.back(), "unload open-all");
  EXPECT_EQ(mgr_.Delete("open-all", "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(mgr_.size(), 1u);
}

// Concurrent clients, as gRPC's threads are: adds, deletes and lists from
// four threads leave every policy accounted for (tools/test.sh also runs
// this under --config=tsan).
TEST_F(PolicyManagerTest, ConcurrentAddDeleteAndList) {
  constexpr int kThreads = 4, kRounds = 24;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &failures] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string name = absl::StrCat("c", t, "-", i);
        if (!mgr_.Add(Policy(name)).ok()) ++failures;
        if (mgr_.List().empty()) ++failures;  // its own policy at least
        if (i % 2 == 0 && !mgr_.Delete(name, "").ok()) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mgr_.List().size(), static_cast<size_t>(kThreads * kRounds / 2));
  EXPECT_EQ(log_.events.size(), static_cast<size_t>(kThreads * kRounds * 3 / 2));  // loads + unloads
}

TEST_F(PolicyManagerTest, DuplicateIsRejectedAndOriginalKept) {
  ASSERT_TRUE(mgr_.Add(Policy("p")).ok());
  absl::Status st = mgr_.Add(Policy("p"));
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find("\"p\""), std::string::npos);
  EXPECT_EQ(mgr_.size(), 1u);
  // The same name in two namespaces is two policies.
  EXPECT_TRUE(mgr_.Add(Policy("p", "", "TracingPolicyNamespaced", "ns1")).ok());
  EXPECT_TRUE(mgr_.Add(Policy("p", "", "TracingPolicyNamespaced", "ns2")).ok());
  EXPECT_EQ(mgr_.Delete("p", "ns3").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(mgr_.Delete("p", "ns1").ok());
}

TEST_F(PolicyManagerTest, UnparsableAddLeavesNoTrace) {
  ASSERT_TRUE(mgr_.Add(Policy("keep")).ok());
  EXPECT_EQ(mgr_.Add("kind: [").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mgr_.Add(Policy("Bad_Name")).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(mgr_.List().size(), 1u);
  EXPECT_EQ(mgr_.List()[0].name(), "keep");
}

// An AddTracingPolicy that fails to load leaves no trace: the caller has
// the error, and the list and the loaded policies are as they were.
TEST_F(PolicyManagerTest, FailedAddLeavesNoTrace) {
  ASSERT_TRUE(mgr_.Add(Policy("keep")).ok());
  absl::Status st = mgr_.Add(Policy("unloadable", "  podSelector: {}\n"));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "tracing policy \"unloadable\": kernel lacks kprobe attach");
  ASSERT_EQ(mgr_.List().size(), 1u);
  EXPECT_EQ(mgr_.List()[0].name(), "keep");
  EXPECT_EQ(mgr_.size(), 1u);
  EXPECT_EQ(mgr_.Delete("unloadable", "").code(), absl::StatusCode::kNotFound);
}

// A --policy-dir file that fails to load is kept as Tetragon keeps a
// collection whose load failed: listed in TP_STATE_LOAD_ERROR with its
// error, no sensors, until deleted or re-added.
TEST_F(PolicyManagerTest, FailedLoadIsListedAsLoadErrorUntilDeletedOrAddedAgain) {
  auto add_listing_errors = [&](const std::string& yaml) {
    absl::StatusOr<PolicyDocument> doc = ParsePolicyDocument(yaml);
    if (!doc.ok()) return doc.status();
    return mgr_.AddParsed(*std::move(doc), PolicyManager::OnFailure::kListAsLoadError);
  };
  ASSERT_TRUE(mgr_.Add(Policy("keep")).ok());
  absl::Status st = add_listing_errors(Policy("unloadable", "  podSelector: {}\n"));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "tracing policy \"unloadable\": kernel lacks kprobe attach");
  EXPECT_EQ(mgr_.size(), 1u);  // loaded policies only
  auto list = mgr_.List();
  ASSERT_EQ(list.size(), 2u);
  const auto& bad = list[0].name() == "unloadable" ? list[0] : list[1];
  EXPECT_EQ(bad.name(), "unloadable");
  EXPECT_EQ(bad.state(), tetragon::TP_STATE_LOAD_ERROR);
  EXPECT_EQ(bad.error(), "kernel lacks kprobe attach");
  EXPECT_EQ(bad.mode(), tetragon::TP_MODE_UNKNOWN);
  EXPECT_EQ(bad.sensors_size(), 0);
  EXPECT_EQ(bad.kernel_memory_bytes(), 0u);
  EXPECT_FALSE(bad.has_stats());
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_FALSE(bad.enabled());
#pragma GCC diagnostic pop
  EXPECT_NE(bad.id(), 0u);
  EXPECT_EQ(bad.filter_id(), 2u);  // spent (see below)
  EXPECT_EQ(mgr_.Sensors().size(), 1u);  // only keep's
  // It cannot be enabled or reconfigured; its state is unchanged.
  absl::Status conf = mgr_.Configure("unloadable", "", true, std::nullopt);
  EXPECT_EQ(conf.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(conf.message().find("failed to load (kernel lacks kprobe attach)"), std::string::npos) << conf;
  // Adding it again is another attempt, not ALREADY_EXISTS; still failing,
  // it is listed once.
  EXPECT_EQ(add_listing_errors(Policy("unloadable")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(mgr_.List().size(), 2u);
  // Deleting it by name removes it.
  ASSERT_TRUE(mgr_.Delete("unloadable", "").ok());
  ASSERT_EQ(mgr_.List().size(), 1u);
  EXPECT_EQ(mgr_.List()[0].name(), "keep");
  EXPECT_EQ(mgr_.Delete("unloadable", "").code(), absl::StatusCode::kNotFound);
  // The failed scoped add spent its filter id (2): the next one gets 3, so
  // an id that cannot be used never blocks the policies after it.
  ASSERT_TRUE(mgr_.Add(Policy("next", "  podSelector: {}\n")).ok());
  for (const auto& p : mgr_.List()) {
    if (p.name() == "next") {
      EXPECT_EQ(p.filter_id(), 3u);
    }
  }
}

TEST_F(PolicyManagerTest, LoadErrorOfAnUnparsableFile) {
  ASSERT_TRUE(mgr_.AddLoadError("broken", "", "/etc/p/broken.yaml: line 1 col 7: kind: required").ok());
  auto list = mgr_.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name(), "broken");
  EXPECT_EQ(list[0].state(), tetragon::TP_STATE_LOAD_ERROR);
  EXPECT_EQ(list[0].error(), "/etc/p/broken.yaml: line 1 col 7: kind: required");
  EXPECT_EQ(mgr_.size(), 0u);
  // A valid policy of that name replaces it; a load error never replaces a
  // loaded policy.
  ASSERT_TRUE(mgr_.Add(Policy("broken")).ok());
  EXPECT_EQ(mgr_.List()[0].state(), tetragon::TP_STATE_ENABLED);
  EXPECT_EQ(mgr_.List()[0].error(), "");
  EXPECT_EQ(mgr_.AddLoadError("broken", "", "x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(mgr_.List()[0].state(), tetragon::TP_STATE_ENABLED);
  ASSERT_TRUE(mgr_.AddLoadError("other", "", "y").ok());
  ASSERT_TRUE(mgr_.Delete("other", "").ok());
  EXPECT_EQ(mgr_.List().size(), 1u);
}

// A backend whose filter (like Tetragon's shared maps) already holds some
// ids: loading with one of them fails with ALREADY_EXISTS.
class CollidingBackend final : public PolicyBackend {
 public:
  explicit CollidingBackend(std::set<uint32_t> taken) : taken_(std::move(taken)) {}
  std::string Name() const override { return "dispatch"; }
  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const PolicyDocument& doc, uint32_t fid,
                                                     PolicyMode) override {
    if (taken_.count(fid)) return absl::AlreadyExistsError("policy id exists");
    loaded_.push_back(fid);
    return std::make_unique<testing::RecordingPolicy>(&log_, doc.name);
  }
  std::set<uint32_t> taken_;
  std::vector<uint32_t> loaded_;
  BackendLog log_;
};

TEST(PolicyManagerFilterIdTest, ACollisionCostsOneIdNotEveryLaterPolicy) {
  CollidingBackend backend({2});
  PolicyManager mgr(&backend);
  EXPECT_EQ(mgr.Add(Policy("a", "  podSelector: {}\n")).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(mgr.Add(Policy("b", "  podSelector: {}\n")).ok());
  ASSERT_TRUE(mgr.Add(Policy("a", "  podSelector: {}\n")).ok());  // replaces its load error
  EXPECT_EQ(backend.loaded_, (std::vector<uint32_t>{3, 4}));
  for (const auto& p : mgr.List()) EXPECT_EQ(p.state(), tetragon::TP_STATE_ENABLED) << p.name();
}

TEST(PolicyManagerFilterIdTest, BesideTetragonIdsComeFromTheirOwnRangeSkippingTakenOnes) {
  std::set<uint32_t> in_maps = {1, 2, kTetragonSideFirstFilterId};
  CollidingBackend backend(in_maps);
  PolicyManager mgr(&backend, FilterIdAllocator::BesideTetragon(
                                  [&](uint32_t id) { return in_maps.count(id) > 0; }));
  ASSERT_TRUE(mgr.Add(Policy("a", "  podSelector: {}\n")).ok());
  ASSERT_TRUE(mgr.Add(Policy("unscoped")).ok());
  ASSERT_TRUE(mgr.Add(Policy("b", "", "TracingPolicyNamespaced", "ns")).ok());
  EXPECT_EQ(backend.loaded_,
            (std::vector<uint32_t>{kTetragonSideFirstFilterId + 1, 0, kTetragonSideFirstFilterId + 2}));
}

TEST_F(PolicyManagerTest, ConfigureEnableAndMode) {
  ASSERT_TRUE(mgr_.Add(Policy("p")).ok());
  ASSERT_TRUE(mgr_.Configure("p", "", false, std::nullopt).ok());
  EXPECT_EQ(log_.events.back(), "enable p 0");
  EXPECT_EQ(mgr_.List()[0].state(), tetragon::TP_STATE_DISABLED);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  EXPECT_FALSE(mgr_.List()[0].enabled());
#pragma GCC diagnostic pop
  ASSERT_TRUE(mgr_.Configure("p", "", std::nullopt, tetragon::TP_MODE_MONITOR).ok());
  EXPECT_EQ(log_.events.back(), "mode p monitor");
  EXPECT_EQ(mgr_.List()[0].mode(), tetragon::TP_MODE_MONITOR);
  size_t before = log_.events.size();
  ASSERT_TRUE(mgr_.Configure("p", "", false, tetragon::TP_MODE_MONITOR).ok());  // no change
  EXPECT_EQ(log_.events.size(), before);
  EXPECT_EQ(mgr_.Configure("p", "", std::nullopt, tetragon::TP_MODE_UNKNOWN).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mgr_.Configure("q", "", true, std::nullopt).code(), absl::StatusCode::kNotFound);
}

TEST_F(PolicyManagerTest, PolicyModeOptionSetsTheStartingMode) {
  ASSERT_TRUE(mgr_.Add(Policy("m", "  options:\n  - name: policy-mode\n    value: monitor\n")).ok());
  ASSERT_TRUE(mgr_.Add(Policy("e", "  options:\n  - name: policy-mode\n    value: enforce\n")).ok());
  for (const auto& p : mgr_.List()) {
    EXPECT_EQ(p.mode(), p.name() == "m" ? tetragon::TP_MODE_MONITOR : tetragon::TP_MODE_ENFORCE) << p.name();
  }
  // ConfigureTracingPolicy still changes it.
  ASSERT_TRUE(mgr_.Configure("m", "", std::nullopt, tetragon::TP_MODE_ENFORCE).ok());
  EXPECT_EQ(log_.events.back(), "mode m enforce");
  // A value Tetragon refuses is refused, naming the option; nothing stays listed.
  absl::Status st = mgr_.Add(Policy("bad", "  options:\n  - name: policy-mode\n    value: audit\n"));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("spec.options[0].value"), std::string::npos) << st;
  EXPECT_EQ(mgr_.List().size(), 2u);
}

TEST(PolicyManagerUnavailableTest, UnavailableLoaderRefusesHonestly) {
  auto backend = MakeUnavailableBackend("dispatch", "not built in this version");
  PolicyManager mgr(backend.get());
  absl::Status st = mgr.Add(Policy("p"));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("loader \"dispatch\" is not available"), std::string::npos) << st;
  EXPECT_EQ(mgr.size(), 0u);
  EXPECT_TRUE(mgr.List().empty());  // a failed add leaves no trace
  absl::StatusOr<PolicyDocument> doc = ParsePolicyDocument(Policy("p"));
  ASSERT_TRUE(doc.ok());
  EXPECT_FALSE(mgr.AddParsed(*std::move(doc), PolicyManager::OnFailure::kListAsLoadError).ok());
  ASSERT_EQ(mgr.List().size(), 1u);  // a --policy-dir file is listed
  EXPECT_EQ(mgr.List()[0].state(), tetragon::TP_STATE_LOAD_ERROR);
  EXPECT_EQ(mgr.List()[0].error(), "loader \"dispatch\" is not available: not built in this version");
  absl::Status why = mgr.LoaderStatus();
  EXPECT_EQ(why.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(why.message(), "loader \"dispatch\" is not available: not built in this version");
  BackendLog log;
  RecordingBackend good(&log);
  EXPECT_TRUE(PolicyManager(&good).LoaderStatus().ok());
  EXPECT_EQ(PolicyManager(nullptr).LoaderStatus().code(), absl::StatusCode::kFailedPrecondition);
}

struct DocCase {
  const char* name;
  std::string yaml;
  const char* want;  // substring of the error; nullptr = valid
};

TEST(PolicyDocumentTest, EnvelopeValidation) {
  const std::string ok = Policy("ok");
  const DocCase cases[] = {
      {"valid", ok, nullptr},
      {"unknown top-level field", ok + "status: {}\n", "status: unknown field"},
      {"wrong apiVersion", "apiVersion: v1\nkind: TracingPolicy\nmetadata: {name: a}\nspec: {}\n",
       "apiVersion: \"v1\" is not supported"},
      {"wrong kind", "apiVersion: cilium.io/v1alpha1\nkind: Pod\nmetadata: {name: a}\nspec: {}\n",
       "kind: \"Pod\""},
      {"missing name", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {}\nspec: {}\n",
       "metadata.name: required"},
      {"bad name", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: Bad_Name}\nspec: {}\n",
       "line 3 col 18: metadata.name"},
      {"namespaced needs namespace", Policy("a", "", "TracingPolicyNamespaced"), "metadata.namespace: required"},
      {"cluster policy with namespace", Policy("a", "", "TracingPolicy", "x"), "metadata.namespace: not allowed"},
      {"namespaced hostSelector", Policy("a", "  hostSelector: {}\n", "TracingPolicyNamespaced", "x"),
       "spec.hostSelector: not allowed"},
      {"hooks must be a list", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: a}\nspec: {kprobes: 3}\n",
       "spec.kprobes: must be a list"},
      {"two documents", ok + "---\n" + Policy("b"), "expected one YAML document"},
      {"syntax error", "apiVersion: [", "line "},
      {"too large", ok + "# " + std::string(kMaxPolicyBytes, 'x') + "\n", "the limit is 1048576"},
  };
  for (const DocCase& c : cases) {
    auto doc = ParsePolicyDocument(c.yaml);
    if (c.want == nullptr) {
      EXPECT_TRUE(doc.ok()) << c.name << ": " << doc.status();
      continue;
    }
    ASSERT_FALSE(doc.ok()) << c.name;
    EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(doc.status().message().find(c.want), std::string::npos)
        << c.name << ": " << doc.status();
  }
  auto doc = ParsePolicyDocument(Policy("p", "  podSelector: {}\n"));
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->scoped());
  EXPECT_EQ(doc->hooks.at("tracepoints"), 1);
}

}  // namespace
}  // namespace tgd

namespace tgd {
namespace {

// Records Save/Remove calls; fails them on request.
class FakePersistence : public PolicyPersistence {
 public:
  absl::Status Save(const PersistedPolicy& p) override {
    if (fail) return absl::UnavailableError("disk full");
    saved[{p.namespace_, p.name}] = p;
    return absl::OkStatus();
  }
  absl::Status Remove(const std::string& ns, const std::string& name) override {
    if (fail) return absl::UnavailableError("read-only");
    saved.erase({ns, name});
    return absl::OkStatus();
  }
  std::map<std::pair<std::string, std::string>, PersistedPolicy> saved;
  bool fail = false;
};

class PolicyManagerPersistenceTest : public PolicyManagerTest {
 protected:
  void SetUp() override { mgr_.set_persistence(&store_); }
  FakePersistence store_;
};

TEST_F(PolicyManagerPersistenceTest, ApiAddsAreRecordedWithStateAndForgottenOnDelete) {
  ASSERT_TRUE(mgr_.AddPersisted(Policy("api")).ok());
  ASSERT_TRUE(mgr_.Add(Policy("not-recorded")).ok());  // e.g. a --policy-dir file
  ASSERT_EQ(store_.saved.size(), 1u);
  const PersistedPolicy& p = store_.saved.begin()->second;
  EXPECT_EQ(p.name, "api");
  EXPECT_EQ(p.yaml, Policy("api"));
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(p.mode, PolicyMode::kEnforce);
  ASSERT_TRUE(mgr_.Configure("api", "", false, tetragon::TP_MODE_MONITOR).ok());
  EXPECT_FALSE(store_.saved.begin()->second.enabled);
  EXPECT_EQ(store_.saved.begin()->second.mode, PolicyMode::kMonitor);
  ASSERT_TRUE(mgr_.Delete("api", "").ok());
  EXPECT_TRUE(store_.saved.empty());
}

TEST_F(PolicyManagerPersistenceTest, RestoredPoliciesComeBackInTheirStateAndMode) {
  PolicyManager::AddOptions o;
  o.persisted = true;
  o.enabled = false;
  o.mode = PolicyMode::kMonitor;
  auto doc = ParsePolicyDocument(Policy("back"));
  ASSERT_TRUE(doc.ok());
  ASSERT_TRUE(mgr_.AddParsed(*doc, PolicyManager::OnFailure::kListAsLoadError, o).ok());
  EXPECT_TRUE(store_.saved.empty());  // already recorded: not written again
  auto list = mgr_.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state(), tetragon::TP_STATE_DISABLED);
  EXPECT_EQ(list[0].mode(), tetragon::TP_MODE_MONITOR);
  // One that fails to load is listed, and deleting it forgets its record.
  store_.saved[{"", "unloadable"}] = PersistedPolicy{};
  auto bad = ParsePolicyDocument(Policy("unloadable"));
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(mgr_.AddParsed(*bad, PolicyManager::OnFailure::kListAsLoadError, o).ok());
  ASSERT_TRUE(mgr_.Delete("unloadable", "").ok());
  EXPECT_TRUE(store_.saved.empty());
}

TEST_F(PolicyManagerPersistenceTest, WhatCannotBeRecordedIsRefusedAndUndone) {
  store_.fail = true;
  absl::Status st = mgr_.AddPersisted(Policy("p"));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("state directory: disk full"), std::string::npos) << st;
  EXPECT_TRUE(mgr_.List().empty());
  EXPECT_EQ(log_.events.back(), "unload p");
  store_.fail = false;
  ASSERT_TRUE(mgr_.AddPersisted(Policy("p")).ok());
  store_.fail = true;
  EXPECT_EQ(mgr_.Configure("p", "", std::nullopt, tetragon::TP_MODE_MONITOR).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(mgr_.List()[0].mode(), tetragon::TP_MODE_ENFORCE);  // undone
  EXPECT_EQ(mgr_.Delete("p", "").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(mgr_.size(), 1u);  // still loaded and listed, as still recorded
}

}  // namespace
}  // namespace tgd
