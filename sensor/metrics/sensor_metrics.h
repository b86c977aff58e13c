// The metrics tgdispatch exposes (all prefixed tgdispatch_), registered in
// one place so names and labels stay consistent, and EventCounter, which
// counts published events by type from the event bus.
//
//   tgdispatch_events_total{type}                 counter  events published, by type (PROCESS_EXEC, ...)
//   tgdispatch_events_lost_total{source}          counter  ringbuf: process records the base sensor
//                                                          could not deliver; policy_ringbuf: policy
//                                                          events the dispatch datapath could not
//                                                          deliver (all hooks); subscriber: events
//                                                          dropped for slow GetEvents streams / the
//                                                          exporter
//   tgdispatch_policies_loaded                    gauge    tracing policies loaded
//   tgdispatch_dispatcher_runs_total{hook}        counter  dispatcher runs per hook
//   tgdispatch_tail_call_overflows_total{hook}    counter  events whose policy chain hit the
//                                                          tail-call limit, per hook
//   tgdispatch_rate_limited_events_total{hook}    counter  matching events not posted: within
//                                                          their Post's rateLimit, per hook
//   tgdispatch_truncated_events_total{hook}       counter  events whose run list was cut at 64
//                                                          policies (workload changes), per hook
//   tgdispatch_policy_kernel_memory_bytes{policy} gauge    kernel memory attributed to each policy
//   tgdispatch_event_cache_entries                gauge    events held back now (process or
//                                                          parent not known yet)
//   tgdispatch_event_cache_inserts_total          counter  events that were held back
//   tgdispatch_user_actions_total{result}         counter  GetUrl / DnsLookup requests: done,
//                                                          failed (refused, timed out) or dropped
//                                                          (queue full)
//   tgdispatch_event_cache_fetch_failures_total{event_type,entry_type}
//                                                 counter  events finally sent without their
//                                                          process (process_info) or parent
//                                                          (parent_info), Tetragon's labels
#ifndef TGDISPATCH_SENSOR_METRICS_SENSOR_METRICS_H_
#define TGDISPATCH_SENSOR_METRICS_SENSOR_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "api/events.pb.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/metrics/registry.h"

namespace tgd::metrics {

// The `source` values of tgdispatch_events_lost_total.
inline constexpr char kLostRingbuf[] = "ringbuf";                // base process sensor
inline constexpr char kLostPolicyRingbuf[] = "policy_ringbuf";   // dispatch datapath, per-hook stats summed
inline constexpr char kLostSubscriber[] = "subscriber";

// A monotonic total over counts kept elsewhere that may start again from
// zero or vanish, such as the per-hook BPF stats (a hook's slot is zeroed
// when its last policy goes, and reused). Feed it every scrape's values by
// key: growth since the last scrape is added, a value below the last one
// counts as a restart from zero, a key that is gone keeps what it added.
// Counts made after the last scrape of a slot that is then zeroed are not
// seen. Not thread-safe (collectors run one at a time).
class CounterTotal {
 public:
  // Returns the total so far.
  uint64_t Update(const std::map<std::string, uint64_t>& values);
  uint64_t total() const { return total_; }

 private:
  std::map<std::string, uint64_t> last_;
  uint64_t total_ = 0;
};

// One monotonic total per key (a hook) over a count that may restart from
// zero, as CounterTotal does for one sum.
class KeyedCounterTotal {
 public:
  // Returns the key's total so far.
  uint64_t Update(const std::string& key, uint64_t value) { return totals_[key].Update({{key, value}}); }

 private:
  std::map<std::string, CounterTotal> totals_;
};

struct SensorMetrics {
  explicit SensorMetrics(Registry* registry);
  CounterFamily* events_total;               // {type}
  CounterFamily* events_lost_total;          // {source}
  GaugeFamily* policies_loaded;              // no labels
  CounterFamily* dispatcher_runs_total;      // {hook}
  CounterFamily* tail_call_overflows_total;  // {hook}
  CounterFamily* rate_limited_events_total;  // {hook}
  CounterFamily* truncated_events_total;     // {hook}
  GaugeFamily* policy_kernel_memory_bytes;   // {policy}
  GaugeFamily* event_cache_entries;          // no labels
  CounterFamily* event_cache_inserts_total;  // no labels
  CounterFamily* event_cache_fetch_failures_total;  // {event_type, entry_type}
  CounterFamily* user_actions_total;                // {result}
};

// Tetragon's EventType name of an event ("PROCESS_EXEC", ...; "UNDEF" when
// no event is set).
std::string EventTypeName(const tetragon::GetEventsResponse& event);

// Subscribes to the bus and counts every event into events_total{type}.
// Its own queue is large and counting is trivial; anything it still misses
// is reported by dropped().
class EventCounter {
 public:
  static std::unique_ptr<EventCounter> Start(EventBus* bus, CounterFamily* events_total,
                                             size_t queue_capacity = 1 << 16);
  ~EventCounter();
  uint64_t dropped() const { return sub_->dropped(); }

 private:
  EventCounter(EventBus* bus, CounterFamily* family, std::unique_ptr<EventBus::Subscription> sub)
      : bus_(bus), family_(family), sub_(std::move(sub)) {}
  void Run();

  EventBus* bus_;
  CounterFamily* family_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tgd::metrics

#endif  // TGDISPATCH_SENSOR_METRICS_SENSOR_METRICS_H_
