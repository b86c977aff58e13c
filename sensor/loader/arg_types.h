// Tetragon's argument types beyond plain integers and strings, for the
// policy compiler (compile.cc): how each kernel object or buffer type is read
// by the datapath (bpf/dispatch/arg_readers.bpf.h) and rendered
// (arg_render.cc), and the matchArgs operators on them (ports, addresses,
// families, protocols, states, file types, ranges). Types this build cannot
// read are refused with UNIMPLEMENTED naming `<args[j]>.type` and the type.
#ifndef TGDISPATCH_SENSOR_LOADER_ARG_TYPES_H_
#define TGDISPATCH_SENSOR_LOADER_ARG_TYPES_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "bpf/dispatch/dispatch_abi.h"
#include "compat/policy/policy.h"
#include "sensor/loader/arg_resolve.h"
#include "sensor/loader/compile.h"
#include "sensor/loader/tracefs_format.h"

namespace tgd {

// True for the types CompileObjectArg handles (every generic type that is
// not an integer, `string`, `data_loc` or `auto`).
bool IsObjectArgType(const std::string& type);

// Fills `d` (type, size, size_loc; src/offset/index are set by the caller)
// and `ca` (rendering) for argument `a` of `hook`. `field` is the tracepoint
// field the argument names (nullptr for other hook kinds); `format` its
// whole format (for sizeArgIndex). Errors: UNIMPLEMENTED "<path>.type:
// argument type \"T\" is not supported by tgdispatch yet" (and for
// returnCopy, maxData, resolve), INVALID_ARGUMENT (a tracepoint field that
// cannot hold the type, a sizeArgIndex out of range), naming the field.
absl::Status CompileObjectArg(const policy::Hook& hook, const policy::ArgSpec& a, const std::string& path,
                              const TracepointField* field, const TracepointFormat* format, tgd_arg_desc* d,
                              CompiledArg* ca);

// Checks that what args[].resolve ends on can be read as the argument's
// declared (already compiled) type and adapts `d` to it: strings are then
// kernel strings, integers are read at the resolved address. Errors:
// INVALID_ARGUMENT naming `<path>.resolve`.
absl::Status ApplyResolvedPath(const ResolvedPath& r, const policy::ArgSpec& a, const std::string& path,
                               tgd_arg_desc* d);

// Compiles matchArgs entry `m` (on the argument at position `pos`, already
// compiled into out->cfg.args / out->args) of selector `sel_idx` when its
// argument is a kernel object or buffer, or its operator is one the integer
// and string paths of compile.cc do not handle (InRange, NotInRange, InMap,
// NotInMap, ports, addresses, Family, Protocol, State, FileType). Returns
// nullopt when compile.cc's own paths apply, else the status.
// matchArgs with operator CapabilitiesGained (`args: [old, new]`, positions
// in the hook's args, both capability sets): matches when the new set has a
// capability the old one lacks, as Tetragon. Errors: INVALID_ARGUMENT naming
// the field, UNIMPLEMENTED past the selector's integer clauses.
absl::Status CompileCapabilitiesGained(const policy::MatchArg& m, int sel_idx, CompiledHook* out);

std::optional<absl::Status> CompileObjectMatch(const policy::MatchArg& m, int pos, int sel_idx,
                                               CompiledHook* out);

// Adds `value` to the string value sets of clause `tag`: exact strings for
// Equal/NotEqual, prefixes (Prefix) or reversed strings (Postfix) otherwise.
// INVALID_ARGUMENT naming `path` when it is longer than the datapath matches.
absl::Status AddStringValue(CompiledHook* out, uint8_t op, uint32_t tag, const std::string& value,
                            const std::string& path);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_ARG_TYPES_H_
