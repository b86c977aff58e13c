// generated_ftrace lists: the kernel functions of tracefs
// available_filter_functions that the list's pattern (RE2 syntax, as Go's
// regexp) matches, as Tetragon's ftrace.ReadAvailFuncs: vmlinux functions
// only (module lines are dropped), sorted, duplicates and invalid addresses
// removed.
#ifndef TGDISPATCH_SENSOR_LOADER_FTRACE_LIST_H_
#define TGDISPATCH_SENSOR_LOADER_FTRACE_LIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "compat/policy/policy.h"

namespace tgd {

// The matching functions of `text` (the file's content). Errors:
// INVALID_ARGUMENT naming the list's pattern (bad regexp, no pattern, nothing
// matches).
absl::StatusOr<std::vector<std::string>> MatchFtraceFunctions(const policy::ListSpec& list, absl::string_view text);

// The same over the mounted tracefs. Errors: UNAVAILABLE when no tracefs is
// mounted or it is not readable by this process, and the above.
absl::StatusOr<std::vector<std::string>> ReadFtraceList(const policy::ListSpec& list);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_FTRACE_LIST_H_
