// GateOf without the kernel: which policies a run list may rule out with one
// lookup, and the values their gate puts in the hook's union.
#include "sensor/loader/run_gates.h"

#include <cstring>

#include "gtest/gtest.h"
#include "sensor/loader/fake_tracefs.h"

namespace tgd {
namespace {

absl::StatusOr<CompiledHook> Compile(const std::string& selectors, const std::string& args = "") {
  std::string yaml = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"
                     "  kprobes:\n  - call: tcp_connect\n    syscall: false\n" +
                     args + selectors;
  auto p = policy::ParsePolicy(yaml);
  if (!p.ok()) return p.status();
  return CompileHook(p->hooks.at(0), testing::FakeTracefs);
}

uint64_t PathHash(const std::string& path) {
  uint64_t words[TGD_STR_MAX / 8] = {};
  memcpy(words, path.data(), path.size());
  return tgd_path_hash(words);
}

TEST(GateOfTest, EverySelectorWithMatchBinariesInGatesOnTheBinary) {
  auto c = Compile(R"(    selectors:
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/a", "/usr/bin/b"]
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/c", "/usr/bin/a"]
      matchPIDs:
      - operator: NotIn
        values: [1]
)");
  ASSERT_TRUE(c.ok()) << c.status();
  RunGate g = GateOf(*c);
  EXPECT_EQ(g.kind, TGD_GATE_BIN);
  // The hashes of every In value of every selector, each once.
  std::vector<uint64_t> want = {PathHash("/usr/bin/a"), PathHash("/usr/bin/b"), PathHash("/usr/bin/c")};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(g.values, want);
}

TEST(GateOfTest, EverySelectorWithMatchPidsInGatesOnThePid) {
  auto c = Compile(R"(    selectors:
    - matchPIDs:
      - operator: In
        values: [10, 20]
    - matchPIDs:
      - operator: In
        values: [30]
      matchBinaries:
      - operator: NotIn
        values: ["/usr/bin/a"]
)");
  ASSERT_TRUE(c.ok()) << c.status();
  RunGate g = GateOf(*c);
  EXPECT_EQ(g.kind, TGD_GATE_PID);
  EXPECT_EQ(g.values, (std::vector<uint64_t>{10, 20, 30}));
}

TEST(GateOfTest, NoGateWhereASelectorCouldMatchOutsideTheSets) {
  const char* cases[] = {
      // a selector without the clause
      R"(    selectors:
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/a"]
    - matchPIDs:
      - operator: In
        values: [1]
)",
      // negated operators
      R"(    selectors:
    - matchBinaries:
      - operator: NotIn
        values: ["/usr/bin/a"]
)",
      R"(    selectors:
    - matchBinaries:
      - operator: Prefix
        values: ["/usr/bin/"]
)",
      // followForks: an ancestor's pid; isNamespacePID: another pid number
      R"(    selectors:
    - matchPIDs:
      - operator: In
        followForks: true
        values: [1]
)",
      R"(    selectors:
    - matchPIDs:
      - operator: In
        isNamespacePID: true
        values: [1]
)",
      // no selector: every event matches
      "",
  };
  for (const char* sel : cases) {
    auto c = Compile(sel);
    ASSERT_TRUE(c.ok()) << c.status() << "\n" << sel;
    EXPECT_EQ(GateOf(*c).kind, TGD_GATE_NONE) << sel;
  }
}

TEST(GateOfTest, NoGateForAPolicyReadingASocket) {
  // A socket it tracks (TrackSock) makes the event its owner's.
  auto c = Compile(R"(    selectors:
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/a"]
)",
                   "    args:\n    - index: 0\n      type: sock\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(GateOf(*c).kind, TGD_GATE_NONE);
}

TEST(GateOfTest, NoGateWithASelectorFlagOrTrackingItDoesNotKnow) {
  auto c = Compile(R"(    selectors:
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/a"]
)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(GateOf(*c).kind, TGD_GATE_BIN);
  c->cfg.sel[0].flags |= 1u << 31;  // a clause kind added later
  EXPECT_EQ(GateOf(*c).kind, TGD_GATE_NONE);
  c->cfg.sel[0].flags &= ~(1u << 31);
  c->track_flags |= 1u << 31;  // a process tracking added later (followChildren, say)
  EXPECT_EQ(GateOf(*c).kind, TGD_GATE_NONE);
}

}  // namespace
}  // namespace tgd
