// What the BPF objects this process holds cost the kernel: maps (memlock from
// fdinfo, including inner maps and tail-call programs reachable only through
// the kernel), program sizes (JIT + xlated), and per-program run statistics
// (kernel.bpf_stats_enabled). Used by the dispatch bench.
#ifndef TGDISPATCH_BENCH_DISPATCH_BPF_ACCOUNTING_H_
#define TGDISPATCH_BENCH_DISPATCH_BPF_ACCOUNTING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tgd::bench {

struct BpfFootprint {
  uint64_t map_bytes = 0;         // sum of memlock over all maps
  uint64_t percpu_map_bytes = 0;  // the part of map_bytes that scales with possible CPUs
  uint64_t prog_jited_bytes = 0;
  uint64_t prog_xlated_bytes = 0;
  size_t maps = 0;        // distinct maps
  size_t inner_maps = 0;  // of which held only through a map-in-map
  size_t progs = 0;       // distinct programs
  std::map<uint32_t, size_t> maps_by_type;
  std::map<std::string, uint64_t> bytes_by_map_name;  // memlock summed by map name

  // total() without the maps named `names` (maps whose size follows the
  // machine's processes, such as the exec tracker, not the policies).
  uint64_t TotalWithout(const std::vector<std::string>& names) const;

  uint64_t total() const { return map_bytes + prog_jited_bytes + prog_xlated_bytes; }
  // The same objects on a machine with `cpus` possible CPUs.
  uint64_t TotalAt(int cpus, int possible_cpus) const;
};

// Every map and program this process can reach: its own map/prog/link fds,
// the inner maps of its map-in-maps and the programs in its prog arrays.
absl::StatusOr<BpfFootprint> MeasureFootprint();

struct ProgRunStats {
  std::string name;
  uint64_t run_time_ns = 0;
  uint64_t run_cnt = 0;
};

// Run statistics of every program this process can reach (as above), by id.
std::map<uint32_t, ProgRunStats> ReadProgRunStats();

// Number of open file descriptors of this process.
int CountOpenFds();

// Run-time statistics on for the guard's lifetime. Preferred: the kernel's
// BPF_ENABLE_STATS fd (the kernel turns statistics off again when the fd is
// closed, also when the process is killed; kernel.bpf_stats_enabled is never
// written). Fallback: kernel.bpf_stats_enabled=1, the old value written back
// on destruction and on SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGHUP.
class BpfStatsGuard {
 public:
  static absl::StatusOr<std::unique_ptr<BpfStatsGuard>> Enable();
  ~BpfStatsGuard();
  BpfStatsGuard(const BpfStatsGuard&) = delete;
  BpfStatsGuard& operator=(const BpfStatsGuard&) = delete;
  // "BPF_ENABLE_STATS fd" or "sysctl kernel.bpf_stats_enabled".
  std::string method() const { return fd_ >= 0 ? "BPF_ENABLE_STATS fd" : "sysctl kernel.bpf_stats_enabled"; }

 private:
  BpfStatsGuard(int fd, char old) : fd_(fd), old_(old) {}
  int fd_;
  char old_;
};

// Reads /proc/sys/kernel/bpf_stats_enabled ('0' or '1'; 0 when unreadable).
char ReadBpfStatsEnabled();

}  // namespace tgd::bench

#endif  // TGDISPATCH_BENCH_DISPATCH_BPF_ACCOUNTING_H_
