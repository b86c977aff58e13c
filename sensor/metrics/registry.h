// A small Prometheus metrics registry: counters and gauges, optionally with
// labels, updated with relaxed atomics (cheap enough for per-event paths:
// look the labelled child up once, keep the pointer), rendered in the
// Prometheus text exposition format 0.0.4. Collectors registered with
// AddCollector run before each rendering, so values that live elsewhere
// (BPF maps, the event bus) are read only when scraped.
#ifndef TGDISPATCH_SENSOR_METRICS_REGISTRY_H_
#define TGDISPATCH_SENSOR_METRICS_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tgd::metrics {

// A monotonically increasing count.
class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  // Mirrors a monotonic count kept elsewhere (a BPF map, another module).
  void Set(uint64_t v) { v_.store(v, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A value that goes up and down (integers: counts, bytes).
class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// One metric name with its children, one per label-value tuple.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels)
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}

  // The child for these label values (created on first use; the pointer
  // stays valid until Remove/Clear). The number of values must equal the
  // number of label names; missing ones are taken as "".
  T* With(std::vector<std::string> values) {
    values.resize(labels_.size());
    absl::MutexLock lock(&mu_);
    auto& slot = children_[values];
    if (!slot) slot = std::make_unique<T>();
    return slot.get();
  }
  // The child without labels (for label-less families).
  T* Get() { return With({}); }
  void Remove(const std::vector<std::string>& values) {
    absl::MutexLock lock(&mu_);
    children_.erase(values);
  }
  // Drops every child (a collector that rebuilds per-policy gauges).
  void Clear() {
    absl::MutexLock lock(&mu_);
    children_.clear();
  }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // Calls fn(label values, child) in label order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [values, child] : children_) fn(values, *child);
  }

 private:
  const std::string name_, help_;
  const std::vector<std::string> labels_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;

class Registry {
 public:
  // Names should match [a-zA-Z_:][a-zA-Z0-9_:]*, labels [a-zA-Z_][a-zA-Z0-9_]*;
  // other characters become '_'.
  // The returned families live as long as the registry.
  CounterFamily* AddCounter(std::string name, std::string help, std::vector<std::string> labels = {});
  GaugeFamily* AddGauge(std::string name, std::string help, std::vector<std::string> labels = {});
  // Runs `fn` before each Render (in registration order, one at a time).
  void AddCollector(std::function<void()> fn);

  // The text exposition format 0.0.4: HELP and TYPE lines, then one sample
  // per child; a label-less family without children shows 0.
  std::string Render();

 private:
  struct Entry {
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
  };
  absl::Mutex render_mu_;  // one scrape at a time runs the collectors
  mutable absl::Mutex mu_;
  std::vector<Entry> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(mu_);
};

// Escapes a label value (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& v);

}  // namespace tgd::metrics

#endif  // TGDISPATCH_SENSOR_METRICS_REGISTRY_H_
