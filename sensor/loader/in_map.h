// matchArgs InMap / NotInMap on integer arguments: the set of values the
// value-set map holds for the clause (the dispatcher looks the argument up
// there, as for Equal / NotEqual with more values). Values are integers,
// ranges "min:max" (expanded, at most kMaxInMapRange values each) and
// "list:NAME" syscall lists (resolved by the policy model).
#ifndef TGDISPATCH_SENSOR_LOADER_IN_MAP_H_
#define TGDISPATCH_SENSOR_LOADER_IN_MAP_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "compat/policy/policy.h"

namespace tgd {

inline constexpr uint64_t kMaxInMapRange = 4096;

// Whether the operator is InMap or NotInMap.
bool IsInMapOperator(const policy::MatchArg& m);

// The values of one InMap/NotInMap clause. Errors: INVALID_ARGUMENT naming
// `m.path + ".values[i]"` (not a decimal integer, a reversed range);
// UNIMPLEMENTED for a range wider than kMaxInMapRange.
absl::StatusOr<std::vector<uint64_t>> InMapValues(const policy::MatchArg& m, bool is_signed);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_IN_MAP_H_
