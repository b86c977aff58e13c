// Which declared argument a matchArgs entry reads. Tetragon resolves the
// `index` of a tracepoint's matchArgs in two ways at once: a value equal to a
// declared arg's tracepoint field index is rewritten to that arg's position
// in `args`, and any other value is taken as a position already
// (generictracepoint.go, InitKernelSelectors). Kprobes, uprobes and LSM hooks
// look the index up among the declared args' indices (selectors.argIndexType).
#ifndef TGDISPATCH_COMPAT_POLICY_ARG_INDEX_H_
#define TGDISPATCH_COMPAT_POLICY_ARG_INDEX_H_

#include <vector>

#include "compat/policy/policy.h"

namespace tgd::policy {

// Tetragon's rewrite for (raw) tracepoints, step for step: for each declared
// arg in order, an index equal to its field index becomes its position. The
// steps chain (args [{index: 1}, {index: 0}] turn matchArgs index 1 into 0 and
// then into 1), exactly as upstream. Returns the rewritten index, which names
// a declared arg only when it is below args.size().
int RewriteTracepointMatchIndex(const std::vector<ArgSpec>& args, int index);

// Position in hook.args of the argument matchArgs `index` reads, or -1 when it
// names none.
int MatchArgPosition(const Hook& hook, int index);

}  // namespace tgd::policy

#endif  // TGDISPATCH_COMPAT_POLICY_ARG_INDEX_H_
