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
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/events.pb.h"
#include "google/protobuf/arena.h"

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

  using Queues = std::vector<std::shared_ptr<Queue>>;
  mutable absl::Mutex mu_;
  // Copy-on-write: Publish takes a reference to the current list.
  std::shared_ptr<const Queues> queues_ ABSL_GUARDED_BY(mu_) = std::make_shared<const Queues>();
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_total_ ABSL_GUARDED_BY(mu_) = 0;
};

// Builds one event for Publish with a single allocation: the event lives on
// an arena inside the returned Event's control block, and its process fields
// can point at shared immutable processes (the process cache's) instead of
// holding copies:
//   EventBuilder b;
//   auto* exec = b.event()->mutable_process_exec();
//   exec->unsafe_arena_set_allocated_process(b.Keep(cached_process));
//   bus->Publish(std::move(b).Finish());
// Readers see an ordinary const GetEventsResponse (copying it makes a deep,
// independent copy); nobody may mutate a published event.
class EventBuilder {
 public:
  EventBuilder();
  tetragon::GetEventsResponse* event() { return event_; }
  google::protobuf::Arena* arena();
  // Keeps `p` alive as long as the event and returns it for an
  // unsafe_arena_set_allocated_*() of this event's messages (which must not
  // be modified through it). Null in, null out.
  tetragon::Process* Keep(std::shared_ptr<const tetragon::Process> p);
  // The finished event; the builder must not be used afterwards.
  EventBus::Event Finish() &&;

 private:
  struct Box;
  std::shared_ptr<Box> box_;
  tetragon::GetEventsResponse* event_;
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
