// EventBus implementation: one mutex for the subscriber list, one per queue.
#include "sensor/eventbus/event_bus.h"

#include <algorithm>

namespace tgd {

struct EventBus::Queue {
  explicit Queue(size_t cap) : capacity(cap < 1 ? 1 : cap) {}
  const size_t capacity;
  absl::Mutex mu;
  std::deque<Event> events ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
  uint64_t dropped ABSL_GUARDED_BY(mu) = 0;
};

EventBus::~EventBus() { Close(); }

void EventBus::Publish(tetragon::GetEventsResponse event) {
  Publish(std::make_shared<const tetragon::GetEventsResponse>(std::move(event)));
}

void EventBus::Publish(Event event) {
  std::shared_ptr<const Queues> queues;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    ++published_;
    queues = queues_;
  }
  uint64_t dropped = 0;
  for (const auto& q : *queues) {
    absl::MutexLock lock(&q->mu);
    if (q->closed) continue;
    if (q->events.size() >= q->capacity) {
      ++q->dropped;
      ++dropped;
      continue;
    }
    q->events.push_back(event);
  }
  if (dropped) {
    absl::MutexLock lock(&mu_);
    dropped_total_ += dropped;
  }
}

std::unique_ptr<EventBus::Subscription> EventBus::Subscribe(size_t capacity) {
  auto q = std::make_shared<Queue>(capacity);
  absl::MutexLock lock(&mu_);
  if (closed_) {
    absl::MutexLock qlock(&q->mu);
    q->closed = true;
  } else {
    auto next = std::make_shared<Queues>(*queues_);
    next->push_back(q);
    queues_ = std::move(next);
  }
  return std::unique_ptr<Subscription>(new Subscription(this, q));
}

void EventBus::Remove(Queue* q) {
  absl::MutexLock lock(&mu_);
  auto next = std::make_shared<Queues>(*queues_);
  next->erase(std::remove_if(next->begin(), next->end(),
                             [q](const std::shared_ptr<Queue>& x) { return x.get() == q; }),
              next->end());
  queues_ = std::move(next);
}

void EventBus::Close() {
  std::shared_ptr<const Queues> queues;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    queues = queues_;
  }
  for (const auto& q : *queues) {
    absl::MutexLock lock(&q->mu);
    q->closed = true;
  }
}

EventBus::Stats EventBus::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{published_, dropped_total_, queues_->size()};
}

bool EventBus::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

// The arena's first block is part of the box: an event and its small
// strings cost one allocation.
struct EventBuilder::Box {
  static constexpr size_t kFirstBlock = 1024;
  static google::protobuf::ArenaOptions Options(char* block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = kFirstBlock;
    return o;
  }
  Box() : arena(Options(block)) {}
  alignas(16) char block[kFirstBlock];
  // Declared before the arena: the arena (which never destroys the kept
  // messages) goes first.
  absl::InlinedVector<std::shared_ptr<const tetragon::Process>, 3> kept;
  google::protobuf::Arena arena;
};

EventBuilder::EventBuilder()
    : box_(std::make_shared<Box>()),
      event_(google::protobuf::Arena::CreateMessage<tetragon::GetEventsResponse>(&box_->arena)) {}

google::protobuf::Arena* EventBuilder::arena() { return &box_->arena; }

tetragon::Process* EventBuilder::Keep(std::shared_ptr<const tetragon::Process> p) {
  if (p == nullptr) return nullptr;
  // The arena-allocated event never deletes what it points at; `kept` holds it.
  auto* raw = const_cast<tetragon::Process*>(p.get());
  box_->kept.push_back(std::move(p));
  return raw;
}

EventBus::Event EventBuilder::Finish() && {
  return EventBus::Event(std::move(box_), event_);
}

EventBus::Subscription::~Subscription() { bus_->Remove(queue_.get()); }

bool EventBus::Subscription::Next(Event* out, absl::Time deadline) {
  Queue* q = queue_.get();
  absl::MutexLock lock(&q->mu);
  auto ready = [q]() ABSL_SHARED_LOCKS_REQUIRED(q->mu) {
    return !q->events.empty() || q->closed;
  };
  // A deadline already past (polling) must not cost a futex wait.
  if (!ready() && deadline > absl::Now()) q->mu.AwaitWithDeadline(absl::Condition(&ready), deadline);
  if (q->events.empty()) return false;
  *out = std::move(q->events.front());
  q->events.pop_front();
  return true;
}

uint64_t EventBus::Subscription::dropped() const {
  absl::MutexLock lock(&queue_->mu);
  return queue_->dropped;
}

}  // namespace tgd
