// CheckYamlShape: bounds what parsing an input may cost before yaml-cpp
// builds a single node. yaml-cpp 0.7 spends ~400 bytes per node, recurses
// per nesting level and reads far ahead inside nested flow mappings, so 1 MiB
// of "[" used to cost ~250 MB; and it shares an aliased node where the
// policy model copies it (the "billion laughs").
#ifndef TGDISPATCH_COMPAT_POLICY_INTERNAL_SHAPE_H_
#define TGDISPATCH_COMPAT_POLICY_INTERNAL_SHAPE_H_

#include <string_view>

#include "absl/status/status.h"

namespace tgd::policy::internal {

// OK when `yaml` stays within every limit: at most 64 nested collections,
// 50,000 nodes as written, 200,000 nodes and 4 MiB of values with aliases
// expanded, and no more documents than lines (yaml-cpp 0.7 yields empty
// documents forever after a stray ','). Errors: INVALID_ARGUMENT
// "[line L col C: ]yaml: <the limit exceeded>", or yaml-cpp's syntax error.
absl::Status CheckYamlShape(std::string_view yaml);

}  // namespace tgd::policy::internal

#endif  // TGDISPATCH_COMPAT_POLICY_INTERNAL_SHAPE_H_
