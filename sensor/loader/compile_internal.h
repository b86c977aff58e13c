// Pieces of the policy compiler (compile.cc) that its return-probe part
// (compile_return.cc) and its actions part (compile_actions.cc) share. Not
// for other users.
#ifndef TGDISPATCH_SENSOR_LOADER_COMPILE_INTERNAL_H_
#define TGDISPATCH_SENSOR_LOADER_COMPILE_INTERNAL_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "compat/policy/policy.h"
#include "sensor/loader/compile.h"

namespace tgd::compile_internal {

// UNIMPLEMENTED "<path>: <what> is not supported by tgdispatch yet".
absl::Status Unimplemented(const std::string& path, absl::string_view what);
// INVALID_ARGUMENT "<path>: <why>".
absl::Status Invalid(const std::string& path, absl::string_view why);
// The hook's args into out->cfg.args / out->args (layout, types, resolve).
absl::Status CompileArgs(const policy::Hook& hook, const TracepointFormatReader& formats, CompiledHook* out);
// Integer argument types: size, sign and rendering (compile_data.cc).
struct IntType {
  uint8_t size;
  bool is_signed;
  ArgRender render;
};
std::optional<IntType> ExplicitIntType(absl::string_view t);
// The hook's data entries into out->cfg.args / out->args after its args
// (compile_data.cc): values read from the current task or the registers
// through a resolve path. Errors name the field.
absl::Status CompileDataArgs(const policy::Hook& hook, CompiledHook* out);
// matchData index `index`: its position among the event's values, -1 when
// the hook has no such data entry.
int DataPosition(const policy::Hook& hook, int index);
// Selector `sel_idx` of `hook` into out->cfg.sel[sel_idx] and the value sets.
absl::Status CompileSelector(const policy::Hook& hook, const policy::Selector& s, int sel_idx,
                             const HostNamespaceReader& host_ns, CompiledHook* out);
// Selector `sel_idx`'s matchActions into out->cfg.sel[sel_idx].actions
// (compile_actions.cc).
absl::Status CompileActions(const policy::Hook& hook, const policy::Selector& s, int sel_idx, CompiledHook* out);

}  // namespace tgd::compile_internal

#endif  // TGDISPATCH_SENSOR_LOADER_COMPILE_INTERNAL_H_
