// FieldFilters: GetEvents field_filters (tetragon.FieldFilter) applied to each
// event's inner message (paths like "process.binary" are relative to, for
// example, ProcessExec). Includes are applied first, then excludes, so an
// exclusion always wins, as in Tetragon.
#ifndef TGDISPATCH_SENSOR_EVENTFILTER_FIELD_FILTER_H_
#define TGDISPATCH_SENSOR_EVENTFILTER_FIELD_FILTER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "api/events.pb.h"

namespace tgd {

class FieldFilters {
 public:
  // Errors: INVALID_ARGUMENT naming field_filters[i] and the path that is not
  // a field of any event type the filter applies to.
  static absl::StatusOr<FieldFilters> Create(
      const google::protobuf::RepeatedPtrField<tetragon::FieldFilter>& filters);

  bool empty() const { return filters_.empty(); }
  // Rewrites `event` in place.
  void Apply(tetragon::GetEventsResponse* event) const;

 private:
  std::vector<tetragon::FieldFilter> filters_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EVENTFILTER_FIELD_FILTER_H_
