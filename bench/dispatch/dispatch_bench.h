// The dispatcher-vs-per-policy benchmark (issue 7): BPF time per event vs
// policies loaded, kernel memory per policy, policy add/delete latency, for
// every loader mode in one run, rendered as bench/RESULTS.md sections and a
// gnuplot SVG. Needs root (BPF, cgroups).
#ifndef TGDISPATCH_BENCH_DISPATCH_DISPATCH_BENCH_H_
#define TGDISPATCH_BENCH_DISPATCH_DISPATCH_BENCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/dispatch/bpf_accounting.h"
#include "bench/dispatch/policy_dir_start.h"

namespace tgd::bench {

// The tracepoint (syscalls/...) every benchmark policy hooks.
inline constexpr char kHookEvent[] = "sys_enter_getpid";

struct BenchOptions {
  std::vector<std::string> modes = {"dispatch", "per-policy"};
  std::vector<int> policy_counts = {1, 10, 100, 1000, 10000};
  std::vector<int> ks = {0, 1, 8};        // policies applying to the benchmark's cgroup
  int syscalls = 1000000;                  // getpid calls per measured loop
  int repeats = 5;
  int latency_adds = 1000;                 // adds (then deletes) of a known shape
  int new_hook_adds = 1000;                // adds (then deletes) of a first policy on a hook
  int latency_pods = 10000;                // pods registered for the second round of known-shape adds
  int shutdown_hooks = 50;                 // hooks (one policy each) of the shutdown measurement (0: none)
  double delete_budget_s = 60;             // time for deleting the N-sweep policies one by one
  int start_policies = 10000;              // scoped policies in the --policy-dir start measurement (0: none)
  double start_budget_s = 60;              // time for one start
  int cpu = -1;                            // pin the loop to this CPU (-1: last CPU)
  int extrapolate_cpus = 96;
  std::string command;                     // recorded in the results
  std::string git_commit;                  // recorded in the results
  bool verbose = true;                     // progress on stderr
  // Beside a stand-in Tetragon agent (sensor/policyfilter/testing/fake_agent:
  // upstream's maps, sizes and write semantics, holding kAgentPolicies
  // policies and kAgentPods pods): the policy filter runs on BPF maps
  // (--tetragon-bpf-dir, as the daemon) instead of in memory.
  bool beside_tetragon = false;
  // The policy filter on BPF maps without an agent (as the daemon alone):
  // the same filter costs as beside_tetragon, for comparing the two.
  bool bpf_filter = false;
  // The dispatch loader's run-list gates (DispatchOptions::run_gates): off
  // measures the policies a gate cannot rule out.
  bool gates = true;
};

inline constexpr int kAgentPolicies = 100;  // of the agent's 128
inline constexpr int kAgentPods = 50;

struct Spread {
  double median = 0, min = 0, max = 0, p99 = 0;
  size_t n = 0;
};
Spread Summarize(std::vector<double> v);

struct EventCostRow {
  int n = 0, k = 0;
  Spread bpf_ns;          // sum of run_time_ns over all programs / events
  Spread wall_ns;         // wall time of the loop / syscalls
  uint64_t events = 0;    // max run_cnt delta (last repeat)
  uint64_t foreign = 0;   // events beyond the loop's syscalls (other processes), last repeat
  int progs_ran = 0;      // programs with a run_cnt delta (last repeat)
  uint64_t tail_called_runs = 0;  // run_cnt delta of tail-called programs (must be 0)
  uint64_t evaluated = 0, posted = 0, lost = 0;  // dispatch hook counters per repeat (last)
  // One more loop with the ring buffer read as the daemon reads it (a reader
  // thread polling with a 100 ms timeout) instead of drained continuously.
  double daemon_bpf_ns = 0;
  uint64_t daemon_evaluated = 0, daemon_lost = 0;
};

// Maps whose size follows the processes on the machine, not the policies
// (excluded from the "back to baseline" comparison, named in the results).
inline const std::vector<std::string> kChurnMaps = {"tgd_exec_paths"};

struct MemoryRow {
  int n = 0;
  BpfFootprint footprint;
  uint64_t reported_bytes = 0;  // sum of LoadedPolicy::KernelMemoryBytes()
  double load_ms = 0;           // time to load the policies added at this step
};

struct LatencyReport {
  // Known shape: first with few pods registered (pods_few), then again with
  // pods_many registered (the *_many figures).
  Spread add_known_ms, del_known_ms, add_new_ms, del_new_ms;
  Spread add_many_ms, del_many_ms;
  int pods_few = 0, pods_many = 0;
  // One update of a map-in-map element (a fresh inner map into a
  // HASH_OF_MAPS): the kernel waits for an RCU grace period before the
  // syscall returns (synchronize_rcu), whatever the map holds.
  Spread map_in_map_update_ms;
  int known_failures = 0, new_failures = 0;
  std::string first_error;
  int new_hooks_distinct = 0;
  BpfFootprint baseline, after;
  int fds_baseline = 0, fds_after = 0;
};

// The shutdown of a loader holding one policy on each of `hooks` distinct
// tracepoints, in the daemon's order: BeginShutdown (every link closed, from
// several threads), then the policies, then the backend (maps, programs).
struct ShutdownReport {
  int hooks = 0;
  int links = 0;           // what BeginShutdown detached (dispatchers, per-policy programs)
  double detach_s = 0;     // BeginShutdown
  double total_s = 0;      // BeginShutdown to the backend gone
  std::string error;
};

struct ModeReport {
  std::string mode;
  std::string error;           // the mode could not run at all
  std::string sweep_stop;      // why the N sweep stopped early (attach limit, ...)
  Spread wall_no_sensor_ns;
  std::vector<EventCostRow> cost;
  // N=1, k=1 with a trivial selector (matchPIDs In [1]: one integer lookup,
  // no match), the shape of design.md's 5x target; n == 0 when not measured.
  EventCostRow trivial;
  BpfFootprint baseline;
  int fds_baseline = 0;
  std::vector<MemoryRow> memory;
  double slope = 0, intercept = 0, percpu_slope = 0;  // bytes per policy (linear fit)
  BpfFootprint after_delete_all;  // 1 s after the last delete
  StartReport start_memory, start_bpf;  // --policy-dir start, filter maps in memory / in BPF
  int fds_after_delete_all = 0;
  // Seconds from the last delete until memory and fds were back to the
  // baseline (polled every 250 ms for up to 20 s; -1: not within that).
  double back_after_s = -1;
  // Deleting the N-sweep policies one by one (largest N first), timed, until
  // the budget runs out; the rest go with the backend.
  Spread delete_at_max_ms;
  int deleted_one_by_one = 0;
  int dropped_with_backend = 0;
  LatencyReport latency;
  ShutdownReport shutdown;
};

struct EmptyBaseline {
  Spread bpf_ns, wall_ns;
  std::string error;
};

struct BenchReport {
  std::string cpu_model, kernel_release, kernel_version;
  int online_cpus = 0, possible_cpus = 0;
  std::string stats_method;
  EmptyBaseline empty;
  std::vector<ModeReport> modes;
};

// Runs everything. Errors: not root / no cgroup v2 (FAILED_PRECONDITION),
// statistics cannot be enabled. A mode that cannot run is reported in its
// ModeReport.error, not as an error.
absl::StatusOr<BenchReport> RunBench(const BenchOptions& options);

// The generated markdown (between the markers, markers included).
inline constexpr char kBeginMarker[] = "<!-- BEGIN dispatch-bench: generated by bench/dispatch, do not edit -->";
inline constexpr char kEndMarker[] = "<!-- END dispatch-bench -->";
std::string RenderMarkdown(const BenchReport& report, const BenchOptions& options, const std::string& svg_name);

// Replaces the text between begin and end marker (inclusive) in `path`, or
// appends it when the markers are absent (creating the file).
absl::Status ReplaceSection(const std::string& path, const std::string& begin, const std::string& end,
                            const std::string& content);

// Writes the gnuplot script and data for "BPF ns/event vs N" and runs gnuplot
// to make `svg_path`. Errors: gnuplot missing or failing.
absl::Status WritePlot(const BenchReport& report, const std::string& svg_path);

}  // namespace tgd::bench

#endif  // TGDISPATCH_BENCH_DISPATCH_DISPATCH_BENCH_H_
