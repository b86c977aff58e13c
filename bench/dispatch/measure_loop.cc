// The measured loop of the dispatch benchmark (see measure_loop.h).
#include "bench/dispatch/measure_loop.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/dispatch/bpf_accounting.h"

namespace tgd::bench {
namespace {

class DrainThread {
 public:
  explicit DrainThread(const Drain& d) {
    if (!d.poll) return;
    thread_ = std::thread([this, d] {
      if (d.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(d.cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
      }
      while (!stop_.load(std::memory_order_relaxed)) d.poll(d.timeout_ms);
    });
  }
  ~DrainThread() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

using tgd::testing::TestCgroup;

absl::StatusOr<LoopSample> MeasureLoop(TestCgroup& cg, int syscalls, int cpu,
                                       const std::set<uint32_t>& tail_called, const Drain& drain) {
  int go[2], res[2];
  if (pipe(go) != 0) return absl::InternalError("pipe");
  if (pipe(res) != 0) {
    close(go[0]);
    close(go[1]);
    return absl::InternalError("pipe");
  }
  absl::StatusOr<pid_t> pid = cg.SpawnFn([&]() -> int {
    close(go[1]);
    close(res[0]);
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
    char c;
    if (read(go[0], &c, 1) != 1) return 2;
    timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < syscalls; ++i) syscall(SYS_getpid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t ns = (b.tv_sec - a.tv_sec) * 1000000000ull + b.tv_nsec - a.tv_nsec;
    if (write(res[1], &ns, sizeof(ns)) != sizeof(ns)) return 3;
    (void)!read(go[0], &c, 1);  // stay alive until the parent has read the statistics
    return 0;
  });
  close(go[0]);
  close(res[1]);
  if (!pid.ok()) {
    close(go[1]);
    close(res[0]);
    return pid.status();
  }
  usleep(20000);  // let the child reach its read (fork's own tracepoints are done)
  std::map<uint32_t, ProgRunStats> before, after;
  uint64_t ns = 0;
  bool ok;
  {
    DrainThread reader(drain);
    before = ReadProgRunStats();
    char c = 'g';
    ok = write(go[1], &c, 1) == 1 && read(res[0], &ns, sizeof(ns)) == sizeof(ns);
    after = ReadProgRunStats();
  }
  close(go[1]);  // the child exits
  close(res[0]);
  absl::StatusOr<int> st = tgd::testing::WaitChild(*pid);
  if (!ok) return absl::InternalError(absl::StrCat("the loop child failed (wait status ", st.ok() ? *st : -1, ")"));
  LoopSample s;
  uint64_t time = 0;
  for (const auto& [id, a] : after) {
    auto it = before.find(id);
    uint64_t t0 = it == before.end() ? 0 : it->second.run_time_ns;
    uint64_t c0 = it == before.end() ? 0 : it->second.run_cnt;
    uint64_t dc = a.run_cnt - c0;
    time += a.run_time_ns - t0;
    if (dc > 0) s.progs_ran++;
    s.events = std::max(s.events, dc);
    if (tail_called.count(id)) s.tail_called_runs += dc;
  }
  s.foreign = s.events > static_cast<uint64_t>(syscalls) ? s.events - syscalls : 0;
  s.bpf_ns = s.events ? static_cast<double>(time) / s.events : 0;
  s.wall_ns = static_cast<double>(ns) / syscalls;
  return s;
}

}  // namespace tgd::bench
