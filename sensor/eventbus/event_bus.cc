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
  std::vector<std::shared_ptr<Queue>> queues;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    ++published_;
    queues = queues_;
  }
  uint64_t dropped = 0;
  for (const auto& q : queues) {
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
    queues_.push_back(q);
  }
  return std::unique_ptr<Subscription>(new Subscription(this, q));
}

void EventBus::Remove(Queue* q) {
  absl::MutexLock lock(&mu_);
  queues_.erase(std::remove_if(queues_.begin(), queues_.end(),
                               [q](const std::shared_ptr<Queue>& x) { return x.get() == q; }),
                queues_.end());
}

void EventBus::Close() {
  std::vector<std::shared_ptr<Queue>> queues;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    queues = queues_;
  }
  for (const auto& q : queues) {
    absl::MutexLock lock(&q->mu);
    q->closed = true;
  }
}

EventBus::Stats EventBus::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{published_, dropped_total_, queues_.size()};
}

bool EventBus::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

EventBus::Subscription::~Subscription() { bus_->Remove(queue_.get()); }

bool EventBus::Subscription::Next(Event* out, absl::Time deadline) {
  Queue* q = queue_.get();
  absl::MutexLock lock(&q->mu);
  auto ready = [q]() ABSL_SHARED_LOCKS_REQUIRED(q->mu) {
    return !q->events.empty() || q->closed;
  };
  q->mu.AwaitWithDeadline(absl::Condition(&ready), deadline);
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
