// EventFilter: GetEvents allow/deny lists (tetragon.Filter) compiled once per
// request and evaluated per event, with Tetragon's semantics: an event passes
// when it matches any allow filter (or none are given) and no deny filter;
// inside one Filter every field that is set must match, and a repeated field
// matches when any of its values does.
#ifndef TGDISPATCH_SENSOR_EVENTFILTER_EVENT_FILTER_H_
#define TGDISPATCH_SENSOR_EVENTFILTER_EVENT_FILTER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "api/events.pb.h"

namespace tgd {

class CompiledFilter;

class EventFilter {
 public:
  // Errors: INVALID_ARGUMENT naming the list, index and field (for example
  // "allow_list[1].binary_regex[0]: invalid RE2 pattern ..." or
  // "deny_list[0].cel_expression: not supported by tgdispatch").
  static absl::StatusOr<EventFilter> Create(
      const google::protobuf::RepeatedPtrField<tetragon::Filter>& allow,
      const google::protobuf::RepeatedPtrField<tetragon::Filter>& deny);

  EventFilter(EventFilter&&) noexcept;
  EventFilter& operator=(EventFilter&&) noexcept;
  ~EventFilter();

  bool Allows(const tetragon::GetEventsResponse& event) const;

 private:
  EventFilter();
  std::vector<std::unique_ptr<CompiledFilter>> allow_;
  std::vector<std::unique_ptr<CompiledFilter>> deny_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EVENTFILTER_EVENT_FILTER_H_
