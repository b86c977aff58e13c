// EventBus: the in-process fan-out of Tetragon-format events from the sensors
// (datapath, process sensor) to their consumers (GetEvents streams, the JSON
// exporter). Publishing never blocks: every subscriber has its own bounded
// queue, and a subscriber that falls behind loses its own oldest-unread events
// (counted), never anyone else's.
#ifndef TGDISPATCH_SENSOR_EVENTBUS_EVENT_BUS_H_
#define TGDISPATCH_SENSOR_EVENTBUS_EVENT_BUS_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/events.pb.h"

namespace tgd {

class EventBus {
 public:
  using Event = std::shared_ptr<const tetragon::GetEventsResponse>;

  struct Stats {
    uint64_t published = 0;    // events handed to Publish
    uint64_t dropped = 0;      // events dropped for slow subscribers (all)
    uint64_t subscribers = 0;  // current subscriber count
  };

  class Subscription;

  EventBus() = default;
  ~EventBus();
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Delivers `event` to every current subscriber. Never blocks on consumers.
  void Publish(Event event);
  void Publish(tetragon::GetEventsResponse event);

  // Adds a subscriber whose queue holds at most `capacity` (>= 1) events.
  // The subscription unsubscribes when destroyed.
  std::unique_ptr<Subscription> Subscribe(size_t capacity);

  // Wakes every subscriber and makes Next() return false from now on (daemon
  // shutdown). Publish after Close is a no-op.
  void Close();

  Stats stats() const;
  bool closed() const;

 private:
  struct Queue;
  void Remove(Queue* q);

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Queue>> queues_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_total_ ABSL_GUARDED_BY(mu_) = 0;
};

class EventBus::Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Waits until an event is available or `deadline` passes. Returns false on
  // timeout or when the bus was closed (and the queue is drained).
  bool Next(Event* out, absl::Time deadline);

  // Events this subscriber lost because its queue was full.
  uint64_t dropped() const;

 private:
  friend class EventBus;
  Subscription(EventBus* bus, std::shared_ptr<Queue> queue)
      : bus_(bus), queue_(std::move(queue)) {}
  EventBus* bus_;
  std::shared_ptr<Queue> queue_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EVENTBUS_EVENT_BUS_H_
