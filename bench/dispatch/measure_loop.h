// One measured loop of the dispatch benchmark: getpid syscalls in a child in
// a cgroup, pinned to a CPU, with the BPF run statistics of every program
// read around the loop only, and optionally the backend's ring buffer read
// on another CPU meanwhile.
#ifndef TGDISPATCH_BENCH_DISPATCH_MEASURE_LOOP_H_
#define TGDISPATCH_BENCH_DISPATCH_MEASURE_LOOP_H_

#include <cstdint>
#include <functional>
#include <set>

#include "absl/status/statusor.h"
#include "sensor/testing/cgroup.h"

namespace tgd::bench {

// The result of one measured loop.
struct LoopSample {
  double bpf_ns = 0;   // per event
  double wall_ns = 0;  // per syscall
  uint64_t events = 0, foreign = 0, tail_called_runs = 0;
  int progs_ran = 0;
};

// Reads the backend's ring buffer on another CPU while the loop runs:
// `poll(timeout_ms)` in a loop with `timeout_ms` (0: continuously).
struct Drain {
  std::function<int(int)> poll;  // empty: the backend reads its own ring buffer
  int timeout_ms = 0;
  int cpu = -1;
};

// Runs `syscalls` getpid calls in a child in `cg`, pinned to `cpu`, and reads
// the BPF run statistics of every reachable program around the loop only
// (the child's fork and exit are outside the window). `tail_called`: ids of
// programs that are only ever tail-called. Errors: pipe or fork failure
// (INTERNAL, or the spawn's status), the child failing (INTERNAL).
absl::StatusOr<LoopSample> MeasureLoop(tgd::testing::TestCgroup& cg, int syscalls, int cpu,
                                       const std::set<uint32_t>& tail_called, const Drain& drain = {});

}  // namespace tgd::bench

#endif  // TGDISPATCH_BENCH_DISPATCH_MEASURE_LOOP_H_
