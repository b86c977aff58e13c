// USDT probes as uprobes: a usdts entry compiled once (compile.h) becomes
// one uprobe hook per probe site the ELF's stapsdt notes give.
#ifndef TGDISPATCH_SENSOR_LOADER_USDT_HOOKS_H_
#define TGDISPATCH_SENSOR_LOADER_USDT_HOOKS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "compat/policy/policy.h"
#include "sensor/loader/compile.h"

namespace tgd {

// The uprobes of a usdts entry `hook` compiled as `c`: one per probe site of
// the ELF at `fd` with its provider and name, at the site's file offset, with
// its semaphore as reference counter and its arguments' note specs.
// Errors: NOT_FOUND (no such probe), INVALID_ARGUMENT (an args index past the
// note's arguments, a malformed note), UNIMPLEMENTED (an operand form not
// read), each naming the field.
absl::StatusOr<std::vector<CompiledHook>> UsdtSiteHooks(int fd, const policy::Hook& hook, const CompiledHook& c);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_USDT_HOOKS_H_
