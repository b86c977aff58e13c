// ProcessSensor: loads the base process sensor (bpf/process), reads its ring
// buffer on a thread of its own, keeps the ProcessCache current and publishes
// Tetragon process_exec / process_exit events to the EventBus.
#ifndef TGDISPATCH_SENSOR_PROCESS_PROCESS_SENSOR_H_
#define TGDISPATCH_SENSOR_PROCESS_PROCESS_SENSOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "bpf/process/process_msg.h"
#include "sensor/bpfcore/bpf_owners.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/process/event_cache.h"
#include "sensor/process/process_cache.h"

struct process_sensor;  // the bpftool skeleton

namespace tgd {

// The sensor's name in ListSensors: Tetragon's name for its base sensor
// (the execve/exit/fork programs every other sensor relies on).
inline constexpr char kProcessSensorName[] = "__base__";

struct ProcessSensorOptions {
  EventBus* bus = nullptr;        // required
  ProcessCache* cache = nullptr;  // required
  bool walk_proc = true;          // seed the cache from /proc (after attaching)
  // Optional: adds pod/container information to a process (by cgroup id).
  std::function<void(uint64_t cgroup_id, tetragon::Process*)> enrich;
  // Optional, with `enrich`: a number that changes whenever `enrich` may
  // give a different result for some cgroup (ProcessCache::SetEnrichVersion).
  std::function<uint64_t()> enrich_version;
  // Optional: counts process_exit events sent without their process or
  // parent (an exit comes after its exec on the same ring, so nothing that
  // is missing then can arrive later: they are not held back).
  EventCacheStats* event_cache_stats = nullptr;
  // Tetragon's --enable-ancestors=base: process_exec and process_exit carry
  // `ancestors` (ProcessCache::Ancestors); one incomplete is counted as
  // ancestors_info.
  bool ancestors = false;
  // Tests: runs after the programs attach, before the /proc walk.
  std::function<void()> after_attach;
};

class ProcessSensor {
 public:
  // Loads and attaches the programs, walks /proc (walk_proc), then starts
  // the reader thread on the records that queued meanwhile.
  // Errors: the libbpf errno of open/load/attach (PERMISSION_DENIED without
  // CAP_BPF, ...).
  static absl::StatusOr<std::unique_ptr<ProcessSensor>> Start(ProcessSensorOptions opts);
  ~ProcessSensor();
  ProcessSensor(const ProcessSensor&) = delete;
  ProcessSensor& operator=(const ProcessSensor&) = delete;

  // Records the BPF side could not deliver (ring buffer full).
  uint64_t lost() const;
  uint64_t exec_events() const { return execs_.load(); }
  uint64_t exit_events() const { return exits_.load(); }

  // Decodes one ring buffer record (exposed for tests and benchmarks).
  void Handle(const tgd_proc_msg& msg);

 private:
  explicit ProcessSensor(ProcessSensorOptions opts);
  void Run();

  ProcessSensorOptions opts_;
  int64_t boot_wall_ns_ = 0;
  Skeleton<process_sensor> skel_;
  RingBuffer rb_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> execs_{0}, exits_{0};
  std::thread reader_;
};

// Wall-clock ns at CLOCK_MONOTONIC zero.
int64_t MonotonicToWallOffsetNs();

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_PROCESS_PROCESS_SENSOR_H_
