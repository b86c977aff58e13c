// dispatch_bench: dispatcher vs per-policy loader, one run, as root.
//   bazel run -c opt //bench/dispatch:dispatch_bench            (full run; or bench/run.sh)
//   ... -- --policy_counts=1,10 --syscalls=10000 --repeats=1   (quick)
// Writes its section of bench/RESULTS.md (between markers) and the SVG plot.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/dispatch/dispatch_bench.h"

ABSL_FLAG(std::string, modes, "dispatch,per-policy", "loader modes to compare");
ABSL_FLAG(std::string, policy_counts, "1,10,100,1000,10000", "N: policies loaded");
ABSL_FLAG(std::string, ks, "0,1,2,8", "k: policies applying to the benchmark's cgroup");
ABSL_FLAG(int, syscalls, 1000000, "getpid calls per measured loop");
ABSL_FLAG(int, repeats, 5, "measured loops per (mode, N, k)");
ABSL_FLAG(int, latency_adds, 1000, "adds/deletes of a known shape");
ABSL_FLAG(int, new_hook_adds, 1000, "adds/deletes of a first policy on a hook");
ABSL_FLAG(int, latency_pods, 10000, "pods registered for the second round of known-shape adds/deletes");
ABSL_FLAG(int, shutdown_hooks, 50, "hooks (one policy each) loaded for the shutdown measurement (0: none)");
ABSL_FLAG(double, delete_budget_s, 60, "seconds for deleting the N-sweep policies one by one");
ABSL_FLAG(int, start_policies, 10000, "scoped policies in the --policy-dir start measurement (0: skip it)");
ABSL_FLAG(double, start_budget_s, 60, "seconds for one --policy-dir start");
ABSL_FLAG(int, cpu, -1, "CPU for the loop (-1: the last online CPU)");
ABSL_FLAG(std::string, results, "", "RESULTS.md to update (default: <workspace>/bench/RESULTS.md; 'none': stdout)");
ABSL_FLAG(std::string, svg, "", "plot (default: <workspace>/bench/dispatch_ns_per_event.svg; 'none': no plot)");
ABSL_FLAG(bool, beside_tetragon, false,
          "run beside a stand-in Tetragon agent (its pinned policy filter maps with upstream's sizes); "
          "the policy filter runs on BPF maps, as the daemon with --tetragon-bpf-dir");
ABSL_FLAG(bool, bpf_filter, false,
          "the policy filter on BPF maps without an agent (as the daemon alone), to compare with --beside_tetragon");
ABSL_FLAG(bool, gates, true,
          "the dispatch loader's run-list gates (false: every applicable policy is evaluated in full, as a policy "
          "no gate applies to)");
ABSL_FLAG(std::string, command, "", "the command to record (default: this invocation)");

namespace {

bool ParseInts(const std::string& text, std::vector<int>* out, int min) {
  out->clear();
  for (absl::string_view p : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v;
    if (!absl::SimpleAtoi(p, &v) || v < min) return false;
    out->push_back(v);
  }
  return !out->empty();
}

std::string GitCommit(const std::string& dir) {
  std::string cmd = absl::StrCat("git -C '", dir, "' rev-parse --short=12 HEAD 2>/dev/null");
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[128];
    while (fgets(buf, sizeof(buf), p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (out.empty()) return "unknown";
  // The files the benchmarks write are not what was measured.
  std::string dirty_cmd = absl::StrCat("git -C '", dir,
                                       "' status --porcelain --untracked-files=no -- . ':!bench/RESULTS.md' "
                                       "':!bench/dispatch_ns_per_event.svg' 2>/dev/null");
  std::string dirty;
  if (FILE* p = popen(dirty_cmd.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof(buf), p)) dirty += buf;
    pclose(p);
  }
  return dirty.empty() ? out : out + " (with uncommitted changes in the checkout)";
}

// Interrupted (SIGINT, SIGTERM, SIGHUP): the TestCgroup destructors do not
// run, so the handler kills and removes this process's test cgroups itself
// (statistics need nothing: the kernel closes the BPF_ENABLE_STATS fd).
char g_test_cgroups[512];
char g_pid_tag[32];

void CleanupOnSignal(int sig) {
  if (DIR* d = opendir(g_test_cgroups)) {
    while (dirent* e = readdir(d)) {
      if (!strstr(e->d_name, g_pid_tag)) continue;
      char path[1024];
      snprintf(path, sizeof(path), "%s/%s/cgroup.kill", g_test_cgroups, e->d_name);
      int fd = open(path, O_WRONLY);
      if (fd >= 0) {
        (void)!write(fd, "1", 1);
        close(fd);
      }
      snprintf(path, sizeof(path), "%s/%s", g_test_cgroups, e->d_name);
      for (int i = 0; i < 100 && rmdir(path) != 0; ++i) usleep(10000);
    }
    closedir(d);
  }
  _exit(128 + sig);
}

void InstallCleanup() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream f(line);
    std::string id, parent, dev, root, mount;
    f >> id >> parent >> dev >> root >> mount;
    snprintf(g_test_cgroups, sizeof(g_test_cgroups), "%s/tgd-test", mount.c_str());
    snprintf(g_pid_tag, sizeof(g_pid_tag), "-%d-", getpid());
    struct sigaction sa {};
    sa.sa_handler = CleanupOnSignal;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  tgd::bench::BenchOptions o;
  o.modes = absl::StrSplit(absl::GetFlag(FLAGS_modes), ',', absl::SkipEmpty());
  if (!ParseInts(absl::GetFlag(FLAGS_policy_counts), &o.policy_counts, 1)) {
    std::cerr << "--policy_counts: expected positive integers separated by commas\n";
    return 2;
  }
  if (!ParseInts(absl::GetFlag(FLAGS_ks), &o.ks, 0)) {
    std::cerr << "--ks: expected integers >= 0 separated by commas\n";
    return 2;
  }
  o.syscalls = absl::GetFlag(FLAGS_syscalls);
  o.repeats = absl::GetFlag(FLAGS_repeats);
  o.latency_adds = absl::GetFlag(FLAGS_latency_adds);
  o.new_hook_adds = absl::GetFlag(FLAGS_new_hook_adds);
  o.latency_pods = absl::GetFlag(FLAGS_latency_pods);
  o.shutdown_hooks = absl::GetFlag(FLAGS_shutdown_hooks);
  o.cpu = absl::GetFlag(FLAGS_cpu);
  o.delete_budget_s = absl::GetFlag(FLAGS_delete_budget_s);
  o.start_policies = absl::GetFlag(FLAGS_start_policies);
  o.start_budget_s = absl::GetFlag(FLAGS_start_budget_s);
  o.beside_tetragon = absl::GetFlag(FLAGS_beside_tetragon);
  o.bpf_filter = absl::GetFlag(FLAGS_bpf_filter);
  o.gates = absl::GetFlag(FLAGS_gates);
  if (o.syscalls <= 0 || o.repeats <= 0 || o.latency_adds < 0 || o.new_hook_adds < 0) {
    std::cerr << "--syscalls and --repeats must be > 0, --latency_adds and --new_hook_adds >= 0\n";
    return 2;
  }
  const char* ws = getenv("BUILD_WORKSPACE_DIRECTORY");
  std::string workspace = ws ? ws : ".";
  std::string results = absl::GetFlag(FLAGS_results);
  if (results.empty()) results = workspace + "/bench/RESULTS.md";
  std::string svg = absl::GetFlag(FLAGS_svg);
  if (svg.empty()) svg = workspace + "/bench/dispatch_ns_per_event.svg";
  o.command = absl::GetFlag(FLAGS_command);
  if (o.command.empty()) {
    std::vector<std::string> args(argv, argv + argc);
    o.command = absl::StrJoin(args, " ");
  }
  o.git_commit = GitCommit(workspace);

  InstallCleanup();
  absl::StatusOr<tgd::bench::BenchReport> report = tgd::bench::RunBench(o);
  if (!report.ok()) {
    std::cerr << "dispatch_bench: " << report.status() << "\n";
    return 1;
  }
  std::string svg_name;
  if (svg != "none") {
    absl::Status s = tgd::bench::WritePlot(*report, svg);
    if (s.ok()) {
      svg_name = svg.substr(svg.rfind('/') + 1);
    } else {
      std::cerr << "dispatch_bench: plot: " << s << "\n";
    }
  }
  std::string md = tgd::bench::RenderMarkdown(*report, o, svg_name);
  if (results == "none") {
    std::cout << md;
  } else {
    absl::Status s = tgd::bench::ReplaceSection(results, tgd::bench::kBeginMarker, tgd::bench::kEndMarker, md);
    if (!s.ok()) {
      std::cerr << "dispatch_bench: " << s << "\n";
      std::cout << md;
      return 1;
    }
    std::cout << md;
    std::cerr << "dispatch_bench: updated " << results << "\n";
  }
  return 0;
}
