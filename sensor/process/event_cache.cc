// EventCacheStats implementation.
#include "sensor/process/event_cache.h"

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tgd {

AncestorsConfig AncestorsConfig::Parse(absl::string_view flag) {
  AncestorsConfig c;
  for (absl::string_view t : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    t = absl::StripAsciiWhitespace(t);
    if (t == "base") c.base = true;
    if (t == "kprobe") c.kprobe = true;
    if (t == "tracepoint") c.tracepoint = true;
    if (t == "uprobe") c.uprobe = true;
    if (t == "lsm") c.lsm = true;
    if (t == "loader") c.loader = true;
  }
  if (!c.base) return AncestorsConfig{};
  return c;
}

void EventCacheStats::Failed(absl::string_view event_type, absl::string_view entry_type) {
  absl::MutexLock lock(&mu_);
  ++failures_[{std::string(event_type), std::string(entry_type)}];
}

std::map<std::pair<std::string, std::string>, uint64_t> EventCacheStats::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

}  // namespace tgd
