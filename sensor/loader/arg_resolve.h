// args[].resolve: a BTF field path from a hook argument (e.g.
// "file.f_path.dentry.d_name.name" from a struct linux_binprm *), compiled
// against the running kernel's BTF into member offsets and pointer loads
// (struct tgd_resolve) that the datapath follows before reading the
// argument as its declared type.
#ifndef TGDISPATCH_SENSOR_LOADER_ARG_RESOLVE_H_
#define TGDISPATCH_SENSOR_LOADER_ARG_RESOLVE_H_

#include <string>

#include "absl/status/statusor.h"
#include "bpf/dispatch/dispatch_abi.h"
#include "compat/policy/policy.h"
#include "sensor/loader/tracefs_format.h"

namespace tgd {

// What the path ends on, for the argument's declared type to be checked.
enum class ResolvedKind { kInteger, kCharArray, kCharPointer, kPointer };

struct ResolvedPath {
  tgd_resolve res{};
  ResolvedKind kind = ResolvedKind::kInteger;
  int int_size = 0;  // kInteger: bytes
};

// Resolves `a.resolve` for argument `a` of `hook` (raw tracepoints: the
// btf_trace_<event> prototype; LSM hooks: bpf_lsm_<hook>; kprobes: the
// function; tracepoints: the struct named by the format field `field`).
// Errors name `<path>.resolve`: NOT_FOUND (no BTF, no such member),
// INVALID_ARGUMENT (a component that is not a struct or union member, a
// path longer than TGD_RESOLVE_MAX steps or offsets past 64 KiB),
// UNIMPLEMENTED (uprobes, syscall kprobes).
absl::StatusOr<ResolvedPath> ResolveArgPath(const policy::Hook& hook, const policy::ArgSpec& a,
                                            const std::string& path, const TracepointField* field);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_ARG_RESOLVE_H_
