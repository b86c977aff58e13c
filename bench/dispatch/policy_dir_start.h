// The start-up benchmark: N scoped policies in a --policy-dir loaded through
// the real policy manager (as the daemon loads them: read, parse, AddParsed
// with load errors listed), timed from the creation of the policy filter
// state to the last policy enforcing. Run with the policy filter maps in
// memory and with real (own, pinned) BPF policy filter maps, so the cost of
// the filter's map-in-map writes shows separately.
#ifndef TGDISPATCH_BENCH_DISPATCH_POLICY_DIR_START_H_
#define TGDISPATCH_BENCH_DISPATCH_POLICY_DIR_START_H_

#include <cstdint>
#include <string>

namespace tgd::bench {

struct StartReport {
  bool bpf_filter = false;  // real policy filter maps (else in memory)
  int policies = 0;         // files in the directory
  int pods = 0;             // workloads registered before the policies
  int loaded = 0;           // enforcing when the clock stopped
  double pods_s = 0;        // registering the pods (included in total_s)
  double total_s = 0;       // filter creation to the last policy enforcing
  double cpu_s =
      0;  // CPU time of the process meanwhile (user + system, every thread)
  // The daemon's shutdown of what was loaded: BeginShutdown (links closed),
  // the manager (every policy dropped), the backend, the filter.
  double teardown_s = 0;
  // Map-in-map writes of the BPF policy filter maps during the start (each
  // waits for a grace period; a batch counts once).
  uint64_t filter_outer_writes = 0;
  // Start to the BPF policy filter maps holding every policy (the daemon
  // writes them from a background thread; enforcement does not wait).
  double filter_written_s = 0;
  uint64_t grace_periods =
      0;             // the dispatch reclaimer's grace periods meanwhile
  std::string stop;  // why it stopped before the last file (budget, refusals)
  std::string first_error;
};

// Writes `policies` policy files into a temporary directory (not timed) and
// measures one start of loader `mode`. Stops after `budget_s` seconds or 3
// refusals in a row (the per-policy loader's 64 programs per tracepoint).
StartReport MeasurePolicyDirStart(const std::string& mode, int policies,
                                  bool bpf_filter, double budget_s);

}  // namespace tgd::bench

#endif  // TGDISPATCH_BENCH_DISPATCH_POLICY_DIR_START_H_
