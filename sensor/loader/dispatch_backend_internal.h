// Helpers shared by the .cc files of the dispatch_backend library
// (dispatch_backend.cc, dispatch_run_lists.cc, dispatch_per_policy.cc,
// dispatch_events.cc, slot_pool.cc). Private to that library: not in its hdrs.
#ifndef TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_INTERNAL_H_
#define TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_INTERNAL_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {
namespace dispatch_internal {

// The "memlock:" line of /proc/self/fdinfo/FD (a map's kernel memory), 0 if
// it cannot be read.
uint64_t FdMemlock(int fd);

}  // namespace dispatch_internal

// Maps a per-policy object owns (everything else is shared infrastructure).
// Defined in dispatch_per_policy.cc.
bool PerPolicyOwnsMap(absl::string_view name);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_INTERNAL_H_
