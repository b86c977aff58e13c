// EventCacheStats implementation.
#include "sensor/process/event_cache.h"

namespace tgd {

void EventCacheStats::Failed(absl::string_view event_type, absl::string_view entry_type) {
  absl::MutexLock lock(&mu_);
  ++failures_[{std::string(event_type), std::string(entry_type)}];
}

std::map<std::pair<std::string, std::string>, uint64_t> EventCacheStats::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

}  // namespace tgd
