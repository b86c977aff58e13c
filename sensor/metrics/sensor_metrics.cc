// SensorMetrics and EventCounter implementation.
#include "sensor/metrics/sensor_metrics.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"

namespace tgd::metrics {

SensorMetrics::SensorMetrics(Registry* r)
    : events_total(r->AddCounter("tgdispatch_events_total", "Events published, by event type.", {"type"})),
      events_lost_total(r->AddCounter(
          "tgdispatch_events_lost_total",
          "Events lost: ringbuf = process records the base sensor could not deliver (ring buffer "
          "full); policy_ringbuf = policy events the dispatch datapath could not deliver (ring "
          "buffer full, all hooks); subscriber = events dropped for a slow GetEvents stream or "
          "the exporter.",
          {"source"})),
      policies_loaded(r->AddGauge("tgdispatch_policies_loaded", "Tracing policies loaded.")),
      dispatcher_runs_total(
          r->AddCounter("tgdispatch_dispatcher_runs_total", "Dispatcher program runs, per hook.", {"hook"})),
      tail_call_overflows_total(r->AddCounter(
          "tgdispatch_tail_call_overflows_total",
          "Events whose chain of policy programs reached the kernel's tail-call limit, per hook.",
          {"hook"})),
      rate_limited_events_total(r->AddCounter(
          "tgdispatch_rate_limited_events_total",
          "Matching events not posted because their Post's rateLimit had one already, per hook.", {"hook"})),
      truncated_events_total(r->AddCounter(
          "tgdispatch_truncated_events_total",
          "Events whose run list was cut at 64 policies (more apply to the workload), per hook.", {"hook"})),
      policy_kernel_memory_bytes(r->AddGauge("tgdispatch_policy_kernel_memory_bytes",
                                             "Kernel memory attributed to a tracing policy, in bytes.",
                                             {"policy"})),
      event_cache_entries(r->AddGauge("tgdispatch_event_cache_entries",
                                      "Events held back now: their process or parent is not known yet.")),
      event_cache_inserts_total(r->AddCounter("tgdispatch_event_cache_inserts_total",
                                              "Events held back until their process and parent are known.")),
      event_cache_fetch_failures_total(r->AddCounter(
          "tgdispatch_event_cache_fetch_failures_total",
          "Events sent without their process (entry_type process_info) or parent (parent_info) after "
          "the event cache's retries ran out, by event type.",
          {"event_type", "entry_type"})),
      user_actions_total(r->AddCounter("tgdispatch_user_actions_total",
                                       "GetUrl / DnsLookup requests done in user space, by result: done, failed "
                                       "(refused, timed out) or dropped (their queue was full).",
                                       {"result"})) {
  // Every source always shows, even at zero.
  events_lost_total->With({kLostRingbuf});
  events_lost_total->With({kLostPolicyRingbuf});
  events_lost_total->With({kLostSubscriber});
}

uint64_t CounterTotal::Update(const std::map<std::string, uint64_t>& values) {
  for (const auto& [key, v] : values) {
    auto it = last_.find(key);
    uint64_t last = it == last_.end() ? 0 : it->second;
    total_ += v >= last ? v - last : v;  // below the last value: restarted from zero
  }
  last_ = values;
  return total_;
}

std::string EventTypeName(const tetragon::GetEventsResponse& event) {
  int number = static_cast<int>(event.event_case());
  if (number == 0) return "UNDEF";
  const auto* f = tetragon::GetEventsResponse::descriptor()->FindFieldByNumber(number);
  return f == nullptr ? "UNDEF" : absl::AsciiStrToUpper(f->name());
}

std::unique_ptr<EventCounter> EventCounter::Start(EventBus* bus, CounterFamily* events_total,
                                                  size_t queue_capacity) {
  auto c = std::unique_ptr<EventCounter>(
      new EventCounter(bus, events_total, bus->Subscribe(queue_capacity)));
  c->thread_ = std::thread([p = c.get()] { p->Run(); });
  return c;
}

void EventCounter::Run() {
  absl::flat_hash_map<int, Counter*> by_case;
  EventBus::Event ev;
  while (true) {
    if (!sub_->Next(&ev, absl::Now() + absl::Milliseconds(100))) {
      if (stop_.load() || bus_->closed()) {
        while (sub_->Next(&ev, absl::InfinitePast())) {
          family_->With({EventTypeName(*ev)})->Inc();
        }
        return;
      }
      continue;
    }
    Counter*& c = by_case[static_cast<int>(ev->event_case())];
    if (c == nullptr) c = family_->With({EventTypeName(*ev)});
    c->Inc();
    ev.reset();
  }
}

EventCounter::~EventCounter() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace tgd::metrics
