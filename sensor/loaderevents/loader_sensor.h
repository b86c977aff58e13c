// LoaderSensor: Tetragon's loader sensor (`loader: true` in a
// TracingPolicy): a process_loader event for each file a process maps
// executable that has a build id, once per (process, path), joined with the
// process cache as the other events are. Records come from PerfMmapReader
// (user space, no BPF program; see perf_mmap_reader.h for why).
//
// As Tetragon: only mappings with a build id are reported; repeats of one
// (pid, path) are dropped through an LRU of 1,024 entries. An event whose
// process (or parent) is not in the cache yet is held (bounded) and retried
// until `hold` has passed, then sent with what is known, or dropped if its
// process is still unknown (Tetragon drops an event without a process pid).
#ifndef TGDISPATCH_SENSOR_LOADEREVENTS_LOADER_SENSOR_H_
#define TGDISPATCH_SENSOR_LOADEREVENTS_LOADER_SENSOR_H_

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/events.pb.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/loaderevents/perf_mmap_reader.h"
#include "sensor/process/process_cache.h"

namespace tgd {

struct LoaderSensorOptions {
  const ProcessCache* processes = nullptr;  // optional: events without process info otherwise
  EventBus* bus = nullptr;
  std::string node_name;
  int64_t boot_wall_ns = 0;     // wall-clock ns at CLOCK_MONOTONIC zero
  size_t dedup_entries = 1024;  // Tetragon's loader cache size
  size_t max_held = 1024;       // events waiting for their process at once
  absl::Duration hold = absl::Seconds(2);
  // Tetragon's --enable-ancestors=base,loader: events carry `ancestors` (and
  // are held for them as for the parent).
  bool ancestors = false;
  PerfMmapReaderConfig perf;
};

class LoaderSensor {
 public:
  struct Stats {
    uint64_t records = 0, lost = 0;  // PerfMmapReader's
    uint64_t published = 0, duplicates = 0, no_build_id = 0, no_process = 0, held_overflow = 0;
  };

  // Starts reading. Errors: PerfMmapReader::Create's.
  static absl::StatusOr<std::unique_ptr<LoaderSensor>> Create(LoaderSensorOptions opts);
  ~LoaderSensor();

  Stats stats() const;

  // The event of one record, as Tetragon renders it (process, parent, path,
  // buildid; time and node_name), with `found`'s process info. Public for
  // tests.
  static tetragon::GetEventsResponse BuildEvent(const MmapRecord& rec, const ProcessCache::ForEvent& found,
                                                const std::string& node_name, int64_t boot_wall_ns,
                                                const std::vector<ProcessPtr>& ancestors = {});

  // Tests: a sensor without a reader (records are fed through Handle).
  static std::unique_ptr<LoaderSensor> CreateForTest(LoaderSensorOptions opts) {
    return std::unique_ptr<LoaderSensor>(new LoaderSensor(std::move(opts)));
  }

  // Handles one record (the reader thread's handler). Public for tests.
  void Handle(const MmapRecord& rec);

 private:
  explicit LoaderSensor(LoaderSensorOptions opts) : opts_(std::move(opts)) {}
  // Whether (pid, path) was reported before; records it (LRU).
  bool Seen(uint32_t pid, const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the held events whose process is known now or whose time is up.
  void Retry(bool all) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes `rec` if its process is complete (or `final`); false: hold it.
  bool TryPublish(const MmapRecord& rec, bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LoaderSensorOptions opts_;
  mutable absl::Mutex mu_;
  std::list<std::pair<uint32_t, std::string>> lru_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint32_t, std::string>, std::list<std::pair<uint32_t, std::string>>::iterator> lru_index_
      ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<absl::Time, MmapRecord>> held_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<PerfMmapReader> reader_;  // last: stopped first
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADEREVENTS_LOADER_SENSOR_H_
