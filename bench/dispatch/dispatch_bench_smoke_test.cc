// Smoke test: the dispatch bench runs end to end at tiny N (N = 1, 10; 10,000
// syscalls; one repeat; a few adds), produces every section and a plot, and
// leaves nothing behind: statistics switch restored, no cgroups, no BPF
// objects, no extra fds.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "bench/dispatch/bpf_accounting.h"
#include "bench/dispatch/dispatch_bench.h"
#include "gtest/gtest.h"
#include "sensor/testing/cgroup.h"

namespace tgd::bench {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DispatchBenchSmokeTest, RunsOnceAtTinyNAndCleansUp) {
  if (std::string why = tgd::testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
  const char stats_before = ReadBpfStatsEnabled();
  absl::StatusOr<BpfFootprint> fp_before = MeasureFootprint();
  ASSERT_TRUE(fp_before.ok());
  const int fds_before = CountOpenFds();

  BenchOptions o;
  o.modes = {"dispatch", "per-policy"};
  o.policy_counts = {1, 10};
  o.ks = {1, 8};
  o.syscalls = 10000;
  o.repeats = 1;
  o.latency_adds = 5;
  o.new_hook_adds = 2;
  o.latency_pods = 50;   // the second known-shape round
  o.shutdown_hooks = 2;  // each a verifier run
  o.start_policies = 3;  // per-policy: each one runs the verifier
  o.command = "dispatch_bench_smoke_test";
  o.git_commit = "test";
  o.verbose = false;
  absl::StatusOr<BenchReport> r = RunBench(o);
  ASSERT_TRUE(r.ok()) << r.status();

  ASSERT_EQ(r->modes.size(), 2u);
  const ModeReport& d = r->modes[0];
  ASSERT_EQ(d.mode, "dispatch");
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.sweep_stop, "");
  EXPECT_TRUE(r->empty.error.empty()) << r->empty.error;
  EXPECT_GT(r->empty.bpf_ns.median, 0);
  // N=1: k=1 only; N=10: k=1 and k=8.
  ASSERT_EQ(d.cost.size(), 3u);
  for (const EventCostRow& row : d.cost) {
    EXPECT_GT(row.bpf_ns.median, 0) << "N=" << row.n << " k=" << row.k;
    EXPECT_GE(row.events, 10000u);
    EXPECT_EQ(row.tail_called_runs, 0u) << "tail-called programs must not count runs";
    EXPECT_EQ(row.posted, 0u);  // matchBinaries never matches the bench binary
    EXPECT_EQ(row.lost, 0u) << "the bench drains the ring buffer while measuring";
    EXPECT_EQ(row.evaluated, static_cast<uint64_t>(row.k) * 10000) << "N=" << row.n << " k=" << row.k;
  }
  // The trivial-selector row: one evaluation per event, nothing posted.
  EXPECT_EQ(d.trivial.n, 1);
  EXPECT_GT(d.trivial.bpf_ns.median, 0);
  EXPECT_EQ(d.trivial.evaluated, 10000u);
  EXPECT_EQ(d.trivial.posted, 0u);
  EXPECT_EQ(d.latency.map_in_map_update_ms.n, 50u);
  EXPECT_GT(d.latency.map_in_map_update_ms.median, 0);
  ASSERT_EQ(d.memory.size(), 2u);
  EXPECT_GT(d.memory[1].footprint.total(), d.memory[0].footprint.total());
  EXPECT_GT(d.slope, 0);
  EXPECT_EQ(d.latency.add_known_ms.n, 5u);
  EXPECT_EQ(d.latency.pods_few, 7);  // the two k pods and the 5 latency pods
  EXPECT_EQ(d.latency.pods_many, 50);
  EXPECT_EQ(d.latency.add_many_ms.n, 5u);
  EXPECT_EQ(d.latency.del_many_ms.n, 5u);
  EXPECT_EQ(d.shutdown.hooks, 2) << d.shutdown.error;
  EXPECT_GT(d.shutdown.detach_s, 0);
  EXPECT_GE(d.shutdown.total_s, d.shutdown.detach_s);
  EXPECT_GT(d.start_bpf.filter_outer_writes, 0u);
  EXPECT_GE(d.start_bpf.filter_written_s, d.start_bpf.total_s);
  EXPECT_EQ(d.start_memory.loaded, 3) << d.start_memory.first_error;
  EXPECT_EQ(d.start_bpf.loaded, 3) << d.start_bpf.first_error;
  EXPECT_GT(d.start_bpf.total_s, 0);
  EXPECT_EQ(d.latency.add_new_ms.n, 2u);
  EXPECT_EQ(d.latency.known_failures + d.latency.new_failures, 0) << d.latency.first_error;
  // Deleting everything gives every byte and fd back.
  EXPECT_EQ(d.after_delete_all.TotalWithout(kChurnMaps), d.baseline.TotalWithout(kChurnMaps));
  EXPECT_EQ(d.fds_after_delete_all, d.fds_baseline);
  EXPECT_EQ(d.latency.after.TotalWithout(kChurnMaps), d.latency.baseline.TotalWithout(kChurnMaps));
  EXPECT_EQ(d.latency.fds_after, d.latency.fds_baseline);

  const std::string dir = ::testing::TempDir();
  const std::string results = dir + "/RESULTS.md";
  {
    std::ofstream f(results);
    f << "# Results\n\n## Event pipeline throughput\n\nkept\n";
  }
  std::string svg = dir + "/plot.svg";
  absl::Status plot = WritePlot(*r, svg);
  if (access("/usr/bin/gnuplot", X_OK) == 0) {
    EXPECT_TRUE(plot.ok()) << plot;
    EXPECT_NE(ReadFile(svg).find("<svg"), std::string::npos);
  }
  std::string md = RenderMarkdown(*r, o, "plot.svg");
  ASSERT_TRUE(ReplaceSection(results, kBeginMarker, kEndMarker, md).ok());
  ASSERT_TRUE(ReplaceSection(results, kBeginMarker, kEndMarker, md).ok());  // a re-run replaces
  std::string text = ReadFile(results);
  EXPECT_NE(text.find("## Event pipeline throughput\n\nkept"), std::string::npos);
  EXPECT_EQ(text.find(kBeginMarker), text.rfind(kBeginMarker));
  for (const char* s : {"### BPF time per event", "### Kernel memory per policy", "### Policy add and delete latency",
                        "### Targets", "Machine:", "| 10 | 8 |"}) {
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
  }

  // Nothing left behind.
  EXPECT_EQ(ReadBpfStatsEnabled(), stats_before);
  absl::StatusOr<BpfFootprint> fp_after = MeasureFootprint();
  ASSERT_TRUE(fp_after.ok());
  EXPECT_EQ(fp_after->maps, fp_before->maps);
  EXPECT_EQ(fp_after->progs, fp_before->progs);
  EXPECT_EQ(CountOpenFds(), fds_before);
}

// --beside_tetragon: more scoped policies than the agent's 128-entry map
// holds load beside a stand-in agent, whose maps stay exactly as it wrote
// them (RunBench reports a change as the mode's error), and nothing is left.
TEST(DispatchBenchSmokeTest, BesideAStandInTetragonAgent) {
  if (std::string why = tgd::testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
  absl::StatusOr<BpfFootprint> fp_before = MeasureFootprint();
  ASSERT_TRUE(fp_before.ok());
  int fds_before = CountOpenFds();
  BenchOptions o;
  o.modes = {"dispatch"};
  o.policy_counts = {1, 130};
  o.ks = {1};
  o.syscalls = 10000;
  o.repeats = 1;
  o.latency_adds = 2;
  o.new_hook_adds = 1;
  o.command = "dispatch_bench_smoke_test";
  o.git_commit = "test";
  o.verbose = false;
  o.beside_tetragon = true;
  absl::StatusOr<BenchReport> r = RunBench(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->modes.size(), 1u);
  const ModeReport& d = r->modes[0];
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.sweep_stop, "");
  ASSERT_EQ(d.cost.size(), 2u);
  for (const EventCostRow& row : d.cost) {
    EXPECT_EQ(row.evaluated, 10000u) << "N=" << row.n;
  }
  EXPECT_EQ(d.latency.known_failures + d.latency.new_failures, 0) << d.latency.first_error;
  EXPECT_NE(RenderMarkdown(*r, o, "plot.svg").find("Beside a stand-in Tetragon agent"), std::string::npos);
  absl::StatusOr<BpfFootprint> fp_after = MeasureFootprint();
  ASSERT_TRUE(fp_after.ok());
  EXPECT_EQ(fp_after->maps, fp_before->maps);
  EXPECT_EQ(fp_after->progs, fp_before->progs);
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(DispatchBenchSmokeTest, ReplaceSectionAppendsThenReplaces) {
  const std::string path = ::testing::TempDir() + "/sections.md";
  unlink(path.c_str());
  ASSERT_TRUE(ReplaceSection(path, "<b>", "<e>", "<b>\none\n<e>\n").ok());
  ASSERT_TRUE(ReplaceSection(path, "<b>", "<e>", "<b>\ntwo\n<e>\n").ok());
  EXPECT_EQ(ReadFile(path), "<b>\ntwo\n<e>\n");
}

}  // namespace
}  // namespace tgd::bench
