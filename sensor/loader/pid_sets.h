// Several matchPIDs in one selector: Tetragon ANDs them. Over the same pid
// kind (isNamespacePID equal) and without followForks, their conjunction is
// exactly one In or NotIn set: In A and In B = In (A ∩ B); NotIn A and NotIn
// B = NotIn (A ∪ B); In A and NotIn B = In (A \ B). The dispatcher holds one
// pid clause per selector, so that is what it loads.
//
// followForks (the task or one of its ancestors has a pid of the set): one
// In entry, or NotIn entries only (no ancestor in A and none in B = none in
// A ∪ B); every entry of the selector must then have followForks.
#ifndef TGDISPATCH_SENSOR_LOADER_PID_SETS_H_
#define TGDISPATCH_SENSOR_LOADER_PID_SETS_H_

#include <cstdint>
#include <set>
#include <vector>

#include "absl/status/statusor.h"
#include "compat/policy/policy.h"

namespace tgd {

struct PidSet {
  bool in = true;                // In (true) or NotIn
  bool is_namespace_pid = false;
  bool follow_forks = false;
  std::set<uint32_t> values;
};

// The one set equivalent to all of `pids` (not empty). Errors: UNIMPLEMENTED
// naming the entry for a mix of isNamespacePID or followForks values, or
// several followForks entries that are not all NotIn;
// INVALID_ARGUMENT for an operator other than In/NotIn.
absl::StatusOr<PidSet> CombinePidSelectors(const std::vector<policy::MatchPIDs>& pids);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_PID_SETS_H_
