// Event cache settings and counters: how long events whose process or parent
// is not known yet are held back and retried (Tetragon's event cache:
// --event-cache-retries, --event-cache-retry-delay), and what was held, and
// finally sent without its process or parent, for the metrics. The holding
// itself is done by the event's decoder (sensor/loader, dispatch_events.cc).
#ifndef TGDISPATCH_SENSOR_PROCESS_EVENT_CACHE_H_
#define TGDISPATCH_SENSOR_PROCESS_EVENT_CACHE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tgd {

struct EventCacheConfig {
  // Tetragon's defaults: an event is retried every 2 s and sent as it is
  // after 15 failed retries (about 30 s).
  int retries = 15;
  absl::Duration retry_delay = absl::Seconds(2);
  // Memory bound: events held at once. Past it the oldest is sent as it is
  // (counted like one whose retries ran out). Tetragon's cache has no bound.
  size_t max_held = 16384;
};

// Tetragon's entry_type label values of its event cache metrics.
inline constexpr char kEventCacheProcessInfo[] = "process_info";
inline constexpr char kEventCacheParentInfo[] = "parent_info";
inline constexpr char kEventCacheAncestorsInfo[] = "ancestors_info";

// Tetragon's --enable-ancestors: the event types whose events carry
// `ancestors`. A comma-separated list of base (process_exec/exit), kprobe,
// tracepoint, uprobe, lsm, loader (process_loader; also usdt: no such events
// here); unknown
// names are ignored, and nothing is enabled without "base" (Tetragon's
// reference counting needs it).
struct AncestorsConfig {
  bool base = false, kprobe = false, tracepoint = false, uprobe = false, lsm = false, loader = false;
  static AncestorsConfig Parse(absl::string_view flag);
  bool any_policy() const { return kprobe || tracepoint || uprobe || lsm; }
};

// Thread-safe counters.
class EventCacheStats {
 public:
  void Inserted() { inserts_.fetch_add(1, std::memory_order_relaxed); }
  void SetHeld(uint64_t n) { held_.store(n, std::memory_order_relaxed); }
  // An event sent without its process or its parent. `event_type`:
  // Tetragon's EventType name (PROCESS_TRACEPOINT, PROCESS_EXIT, ...).
  void Failed(absl::string_view event_type, absl::string_view entry_type);

  uint64_t inserts() const { return inserts_.load(std::memory_order_relaxed); }
  uint64_t held() const { return held_.load(std::memory_order_relaxed); }
  // (event_type, entry_type) -> events.
  std::map<std::pair<std::string, std::string>, uint64_t> failures() const;

 private:
  std::atomic<uint64_t> inserts_{0};
  std::atomic<uint64_t> held_{0};
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_PROCESS_EVENT_CACHE_H_
