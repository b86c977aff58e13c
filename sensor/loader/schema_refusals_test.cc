// The loader refuses every field of Tetragon's current schema it has no
// datapath for, naming the field; an empty nodeSelector and selector labels
// load.
#include "sensor/loader/schema_refusals.h"

#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "sensor/loader/compile.h"
#include "sensor/loader/fake_tracefs.h"
#include "sensor/loader/pid_sets.h"

namespace tgd {
namespace {

absl::StatusOr<policy::TracingPolicy> Parse(const std::string& spec) {
  return policy::ParsePolicy("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n" +
                             spec);
}

// The first refusal of the whole policy, as AddTracingPolicy reports it.
absl::Status FirstRefusal(const std::string& spec) {
  auto p = Parse(spec);
  if (!p.ok()) return p.status();
  if (absl::Status s = CheckSpecLoadable(*p); !s.ok()) return s;
  for (const policy::Hook& h : p->hooks) {
    auto c = CompileHook(h, testing::FakeTracefs);
    if (!c.ok()) return c.status();
  }
  return absl::OkStatus();
}

void ExpectRefused(const std::string& spec, const std::string& path) {
  absl::Status s = FirstRefusal(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_EQ(s.message().substr(0, path.size() + 1), path + ":") << s;
}

constexpr char kOpenat[] = "  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n";

TEST(SchemaRefusalsTest, EachNewerFieldIsNamed) {
  ExpectRefused("  nodeSelector:\n    matchLabels:\n      a: b\n" + std::string(kOpenat), "spec.nodeSelector");
  ExpectRefused("  fentries:\n  - call: vfs_read\n    syscall: false\n", "spec.fentries[0]");
  // matchWorkloads beside an unscoped selector in an unscoped policy.
  ExpectRefused(std::string(kOpenat) + "    selectors:\n    - matchPIDs:\n      - operator: In\n        values: [1]\n"
                "    - matchWorkloads:\n        podSelector:\n          matchLabels:\n            app: a\n",
                "spec.tracepoints[0].selectors[1].matchWorkloads");
  ExpectRefused("  uprobes:\n  - path: /bin/true\n    symbols: [main]\n    selectors:\n    - matchActions:\n"
                "      - action: Override\n        argRegs: [\"rax=1\"]\n",
                "spec.uprobes[0].selectors[0].matchActions[0]");
}

// What Tetragon itself refuses in data and args' source, named as such.
TEST(SchemaRefusalsTest, DataAndSourceAsTetragonChecksThem) {
  auto refused = [](const std::string& spec, const std::string& what) {
    absl::Status s = FirstRefusal(spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(what), std::string::npos) << s;
  };
  const std::string kp = "  kprobes:\n  - call: vfs_read\n    syscall: false\n";
  refused(kp + "    args:\n    - index: 0\n      type: int\n      source: current_task\n",
          "spec.kprobes[0].args[0].source: an argument of args cannot have a source");
  refused(kp + "    data:\n    - index: 0\n      type: int\n      source: stack\n      resolve: pid\n",
          "spec.kprobes[0].data[0].source: \"stack\" is not a data source");
  refused(kp + "    data:\n    - index: 0\n      type: int\n      source: pt_regs\n",
          "spec.kprobes[0].data[0].resolve: a data entry needs a resolve path");
  refused(kp + "    args:\n    - {index: 0, type: int}\n    - {index: 1, type: int}\n    - {index: 2, type: int}\n"
          "    data:\n    - {index: 0, type: int, source: current_task, resolve: pid}\n"
          "    - {index: 1, type: int, source: current_task, resolve: tgid}\n"
          "    - {index: 2, type: int, source: current_task, resolve: tgid}\n",
          "spec.kprobes[0].data: too many values: at most 5 args and data (3 args, 3 data)");
}

// data loads on kprobes and uprobes: after the args, from the task or the
// registers through its resolve path; matchData indexes the data entries.
TEST(SchemaRefusalsTest, DataCompilesAfterTheArgs) {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "no kernel BTF";
  auto p = Parse("  kprobes:\n  - call: vfs_read\n    syscall: false\n    args:\n    - {index: 2, type: uint64}\n"
                 "    data:\n    - {index: 0, type: int, source: current_task, resolve: tgid}\n"
                 "    - {index: 1, type: string, source: current_task, resolve: comm}\n"
                 "    selectors:\n    - matchData:\n      - {index: 1, operator: Equal, values: [cat]}\n"
                 "      matchArgs:\n      - {index: 2, operator: GT, values: [\"10\"]}\n");
  ASSERT_TRUE(p.ok()) << p.status();
  auto c = CompileHook(p->hooks[0], testing::FakeTracefs);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cfg.n_args, 3);
  EXPECT_EQ(c->cfg.args[1].src, TGD_SRC_CURRENT_TASK);
  EXPECT_EQ(c->cfg.args[1].type, TGD_ARG_INT);
  EXPECT_EQ(c->cfg.args[2].type, TGD_ARG_STR_KERNEL);
  EXPECT_GT(c->cfg.res[2].n, 0);
  ASSERT_EQ(c->args.size(), 3u);
  EXPECT_FALSE(c->args[0].data);
  EXPECT_TRUE(c->args[2].data);
  EXPECT_EQ(c->cfg.sel[0].n_str, 1);
  EXPECT_EQ(c->cfg.sel[0].strs[0].arg, 2);  // matchData index 1: the second data entry
  EXPECT_EQ(c->cfg.sel[0].n_int, 1);
  auto bad = Parse("  kprobes:\n  - call: vfs_read\n    syscall: false\n"
                   "    data:\n    - {index: 0, type: int, source: current_task, resolve: tgid}\n"
                   "    selectors:\n    - matchData:\n      - {index: 3, operator: Equal, values: [\"1\"]}\n");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);  // the parser names matchData[0].index
  EXPECT_NE(bad.status().message().find("matchData[0].index"), std::string::npos) << bad.status();
}

// matchWorkloads loads when every selector of the hook has one, or when the
// policy is scoped itself; a matchWorkloads that filters nothing (all {} or
// all absent, as Tetragon) counts as none.
TEST(SchemaRefusalsTest, MatchWorkloadsLoadsWhereRunListsCarryIt) {
  const std::string scoped_a =
      "    - matchWorkloads:\n        podSelector:\n          matchLabels:\n            app: a\n";
  const std::string unscoped = "    - matchPIDs:\n      - operator: In\n        values: [1]\n";
  EXPECT_TRUE(FirstRefusal(std::string(kOpenat) + "    selectors:\n" + scoped_a +
                           "    - matchWorkloads:\n        hostSelector: {}\n").ok());
  EXPECT_TRUE(FirstRefusal("  podSelector:\n    matchLabels:\n      tier: x\n" + std::string(kOpenat) +
                           "    selectors:\n" + unscoped + scoped_a).ok());
  EXPECT_TRUE(FirstRefusal(std::string(kOpenat) + "    selectors:\n" + unscoped +
                           "    - matchWorkloads:\n        podSelector: {}\n        containerSelector: {}\n"
                           "        hostSelector: {}\n").ok());
  EXPECT_TRUE(FirstRefusal(std::string(kOpenat) + "    selectors:\n" + unscoped + "    - matchWorkloads: {}\n").ok());
}

// binaryDigests compile; the digests are checked when the uprobe is attached
// (binary_digest_test, uprobe_extras_root_test).
TEST(SchemaRefusalsTest, BinaryDigestsCompile) {
  absl::Status s = FirstRefusal("  uprobes:\n  - path: /bin/true\n    symbols: [main]\n    binaryDigests: [\"sha256:00\"]\n");
  EXPECT_TRUE(s.ok()) << s;
}

// nodeSelector with labels: refused naming --node-labels while the node's
// labels are unknown; with them, loads where it selects the node and is
// refused (FAILED_PRECONDITION) where it does not.
TEST(SchemaRefusalsTest, NodeSelectorIsMatchedAgainstNodeLabels) {
  auto p = Parse("  nodeSelector:\n    matchLabels:\n      pool: gpu\n    matchExpressions:\n"
                 "    - key: arch\n      operator: In\n      values: [amd64, arm64]\n" + std::string(kOpenat));
  ASSERT_TRUE(p.ok()) << p.status();
  absl::Status unknown = CheckSpecLoadable(*p);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnimplemented) << unknown;
  EXPECT_NE(unknown.message().find("--node-labels"), std::string::npos) << unknown;
  auto gpu = ParseNodeLabels("pool=gpu, arch=arm64,zone=");
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_EQ(gpu->at("zone"), "");
  EXPECT_TRUE(CheckSpecLoadable(*p, &*gpu).ok());
  auto cpu = ParseNodeLabels("pool=cpu,arch=arm64");
  ASSERT_TRUE(cpu.ok());
  absl::Status other = CheckSpecLoadable(*p, &*cpu);
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition) << other;
  EXPECT_EQ(other.message().rfind("spec.nodeSelector: ", 0), 0u) << other;
  EXPECT_EQ(ParseNodeLabels("a=1,=2").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNodeLabels("a").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNodeLabels("a=1,a=2").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseNodeLabels("").ok());
}

// A loader-only policy (loader: true, no hooks) loads; a scoped one is
// refused as Tetragon refuses it (the loader sensor has no policy filter).
TEST(SchemaRefusalsTest, LoaderPolicyLoadsUnscoped) {
  auto p = Parse("  loader: true\n");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(CheckSpecLoadable(*p).ok()) << CheckSpecLoadable(*p);
  auto scoped = Parse("  loader: true\n  podSelector:\n    matchLabels:\n      app: a\n");
  ASSERT_TRUE(scoped.ok());
  absl::Status s = CheckSpecLoadable(*scoped);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message().rfind("spec.loader: ", 0), 0u) << s;
}

// FollowFD, UnfollowFD and CopyFD parse (older policies name them) but are
// refused as current Tetragon refuses them: removed, not "not yet".
TEST(SchemaRefusalsTest, RemovedFdActionsAreRefusedAsTetragonDoes) {
  for (const char* a : {"FollowFD", "UnfollowFD", "CopyFD"}) {
    absl::Status s = FirstRefusal(std::string("  kprobes:\n  - call: fd_install\n    syscall: false\n    args:\n"
                                              "    - index: 0\n      type: int\n    - index: 1\n      type: file\n"
                                              "    selectors:\n    - matchActions:\n      - action: ") +
                                  a + "\n        argFd: 0\n        argName: 1\n");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << a << ": " << s;
    EXPECT_EQ(s.message().rfind("spec.kprobes[0].selectors[0].matchActions[0].action: ", 0), 0u) << s;
    EXPECT_NE(s.message().find("removed from Tetragon"), std::string::npos) << s;
  }
}

// returnArgAction TrackSock / UntrackSock on a return probe load: the
// return side tracks (or untracks) the returned sock.
TEST(SchemaRefusalsTest, ReturnArgActionTrackSockLoads) {
  for (const char* a : {"TrackSock", "UntrackSock"}) {
    auto p = Parse(std::string("  kprobes:\n  - call: inet_csk_accept\n    syscall: false\n    return: true\n"
                               "    returnArg:\n      index: 0\n      type: sock\n    returnArgAction: ") + a + "\n");
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(CheckSpecLoadable(*p).ok());
    auto entry = CompileHook(p->hooks[0], testing::FakeTracefs);
    ASSERT_TRUE(entry.ok()) << entry.status();
    auto ret = CompileReturnHook(p->hooks[0], *entry, testing::FakeTracefs);
    ASSERT_TRUE(ret.ok()) << ret.status();
    EXPECT_EQ(ret->cfg.ret_flags, TGD_RETF_RETURN | (std::string(a) == "TrackSock" ? TGD_RETF_TRACKSOCK
                                                                                    : TGD_RETF_UNTRACKSOCK));
    EXPECT_EQ(ret->cfg.args[0].type, TGD_ARG_SOCK);
  }
}

// imaHash on an LSM hook's Post loads (the hash is computed in user space:
// sensor/imahash); the compiled hook says which selectors asked. Off LSM
// hooks (where Tetragon computes none) it is refused naming the field.
TEST(SchemaRefusalsTest, ImaHashOnLsmPostLoads) {
  auto p = Parse("  lsmhooks:\n  - hook: bprm_check_security\n    args:\n    - index: 0\n      type: linux_binprm\n"
                 "    selectors:\n    - matchActions:\n      - action: Post\n    - matchActions:\n"
                 "      - action: Post\n        imaHash: true\n");
  ASSERT_TRUE(p.ok()) << p.status();
  auto c = CompileHook(p->hooks[0], testing::FakeTracefs);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ima_hash_sels, 2u);
  absl::Status kprobe = FirstRefusal("  kprobes:\n  - call: security_bprm_check\n    syscall: false\n    selectors:\n"
                                     "    - matchActions:\n      - action: Post\n        imaHash: true\n");
  EXPECT_EQ(kprobe.code(), absl::StatusCode::kUnimplemented) << kprobe;
  EXPECT_EQ(kprobe.message().rfind("spec.kprobes[0].selectors[0].matchActions[0].imaHash: ", 0), 0u) << kprobe;
}

TEST(SchemaRefusalsTest, EmptyNodeSelectorLabelsAndMacrosLoad) {
  std::string spec = "  nodeSelector: {}\n  selectorsMacros:\n    mine:\n      label: from-macro\n"
                     "      matchBinaries:\n      - operator: In\n        values: [/bin/cat]\n" +
                     std::string(kOpenat) + "    selectors:\n    - macros: [mine]\n";
  EXPECT_TRUE(FirstRefusal(spec).ok()) << FirstRefusal(spec);
  auto p = Parse(spec);
  ASSERT_TRUE(p.ok());
  const policy::Selector& s = p->hooks[0].selectors[0];
  EXPECT_EQ(s.label, "from-macro");  // the macro's label, as upstream
  ASSERT_EQ(s.match_binaries.size(), 1u);
  EXPECT_EQ(s.match_binaries[0].values[0], "/bin/cat");
  auto c = CompileHook(p->hooks[0], testing::FakeTracefs);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(c->cfg.sel[0].flags & TGD_SEL_BINARIES, 0u);  // the macro's matchBinaries is enforced
}

// InMap / NotInMap: integers, ranges and syscall lists become one value set
// of Equal / NotEqual (no limit of 4 values).
TEST(InMapTest, ValuesRangesAndListsFillTheValueSet) {
  auto p = Parse("  lists:\n  - name: dups\n    type: syscalls\n    values: [sys_dup, sys_dup2]\n"
                 "  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n    raw: true\n    args:\n    - index: 1\n"
                 "      type: syscall64\n    selectors:\n    - matchArgs:\n      - index: 0\n"
                 "        operator: NotInMap\n        values: [\"list:dups\", \"0\", \"10:12\"]\n");
  ASSERT_TRUE(p.ok()) << p.status();
  auto c = CompileHook(p->hooks[0], testing::FakeTracefs);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cfg.sel[0].n_int, 1);
  EXPECT_EQ(c->cfg.sel[0].ints[0].op, TGD_OP_NEQ);
  std::vector<uint64_t> got;
  for (const auto& k : c->ints) got.push_back(k.value);
  EXPECT_EQ(got, (std::vector<uint64_t>{32, 33, 0, 10, 11, 12}));  // x64 dup = 32, dup2 = 33
}

// Several matchPIDs in a selector are ANDed; the loader holds the one
// equivalent set.
TEST(PidSetsTest, SeveralMatchPidsBecomeOneEquivalentSet) {
  auto pids = [](const std::string& entries) {
    auto p = Parse(std::string(kOpenat) + "    selectors:\n    - matchPIDs:\n" + entries);
    EXPECT_TRUE(p.ok()) << p.status();
    return CombinePidSelectors(p->hooks[0].selectors[0].match_pids);
  };
  auto s = pids("      - operator: NotIn\n        values: [1]\n      - operator: NotIn\n        values: [0, 1]\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->in);
  EXPECT_EQ(s->values, (std::set<uint32_t>{0, 1}));
  s = pids("      - operator: In\n        values: [1, 2, 3]\n      - operator: In\n        values: [2, 3, 4]\n"
           "      - operator: NotIn\n        values: [3]\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->in);
  EXPECT_EQ(s->values, (std::set<uint32_t>{2}));
  s = pids("      - operator: NotIn\n        values: [1]\n      - operator: In\n        values: [1, 5]\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->in);
  EXPECT_EQ(s->values, (std::set<uint32_t>{5}));
  s = pids("      - operator: In\n        values: [1]\n      - operator: In\n        isNamespacePID: true\n"
           "        values: [1]\n");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented);
  // followForks: one In set, or NotIn sets (their union), all following forks.
  s = pids("      - operator: In\n        followForks: true\n        values: [1]\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->in);
  EXPECT_TRUE(s->follow_forks);
  s = pids("      - operator: NotIn\n        followForks: true\n        isNamespacePID: true\n        values: [1]\n"
           "      - operator: NotIn\n        followForks: true\n        isNamespacePID: true\n        values: [0]\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->in);
  EXPECT_TRUE(s->follow_forks && s->is_namespace_pid);
  EXPECT_EQ(s->values, (std::set<uint32_t>{0, 1}));
  s = pids("      - operator: In\n        values: [1]\n      - operator: In\n        followForks: true\n"
           "        values: [1]\n");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.status().message().find("matchPIDs[1].followForks"), std::string::npos) << s.status();
  s = pids("      - operator: In\n        followForks: true\n        values: [1]\n      - operator: In\n"
           "        followForks: true\n        values: [2]\n");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.status().message().find("matchPIDs[1]"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace tgd
