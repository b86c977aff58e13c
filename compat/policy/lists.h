// spec.lists as Tetragon reads them (pkg/sensors/tracing/lists_linux.go,
// syscall_list.go): list types, syscall list values (`sys_dup`,
// `__x64_sys_dup`, `__ia32_sys_dup`, `i386/sys_dup`, ...) turned into syscall
// ids (32-bit ABIs carry Tetragon's Is32Bit flag, 0x80000000) or into the
// kernel symbols that implement them. The syscall tables are generated at
// build time from the C library's kernel headers (linux-libc-dev).
#ifndef TGDISPATCH_COMPAT_POLICY_LISTS_H_
#define TGDISPATCH_COMPAT_POLICY_LISTS_H_

#include <cstdint>
#include <functional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "compat/policy/policy.h"

namespace tgd::policy {

inline constexpr uint32_t kIs32Bit = 0x80000000u;  // Tetragon's Is32Bit

// "syscalls" or "generated_syscalls".
bool IsSyscallListType(const std::string& type);

// The syscall id of one list value, as SyscallVal.ID(). Errors:
// INVALID_ARGUMENT naming the value (unknown syscall, bad ABI prefix).
absl::StatusOr<uint32_t> SyscallId(absl::string_view value);

// The kernel symbol of one syscall list value, as SyscallVal.Symbol()
// (`sys_dup` -> `__x64_sys_dup`). Errors: INVALID_ARGUMENT.
absl::StatusOr<std::string> SyscallSymbol(absl::string_view value);

// The values of a list after generation: generated_syscalls = every syscall
// of the default ABI ("sys_<name>"); other types as written. generated_ftrace
// needs tracefs and is not generated here (FAILED_PRECONDITION).
absl::StatusOr<std::vector<std::string>> ListValues(const ListSpec& list);

// The ids of a syscall list (InMap/NotInMap "list:NAME" values). Errors:
// INVALID_ARGUMENT when the list is not a syscall list or a value is not a
// syscall.
absl::StatusOr<std::vector<uint32_t>> SyscallListIds(const ListSpec& list);

// Hooks one policy may expand to (a generated_ftrace pattern can match most
// of the kernel): more is refused, naming the hook's call.
inline constexpr size_t kMaxExpandedHooks = 10000;

// Reads the kernel functions a generated_ftrace list's pattern matches (tracefs
// available_filter_functions). Errors are returned as they are.
using FtraceListReader = std::function<absl::StatusOr<std::vector<std::string>>(const ListSpec&)>;

// The policy's hooks with every `call: "list:NAME"` expanded into one hook per
// list element, as Tetragon's kprobe sensor does: a syscalls list gives the
// syscall symbols (`sys_dup` -> `__x64_sys_dup`) and makes the hooks
// `syscall: true`; generated_syscalls the same over every syscall;
// generated_ftrace the functions `ftrace` returns; other lists their values.
// A uprobe with several symbols (and no refCtrOffsets) becomes one uprobe per
// symbol, as Tetragon attaches one per symbol. Each expanded hook keeps its
// path. Errors: INVALID_ARGUMENT naming the hook's call (unknown list, a
// value that is not a syscall), or ftrace's.
absl::StatusOr<std::vector<Hook>> ExpandHookLists(const TracingPolicy& policy, const FtraceListReader& ftrace);

// The list named by a "list:NAME" value, or nullptr.
const ListSpec* FindList(const TracingPolicy& policy, absl::string_view value);

}  // namespace tgd::policy

#endif  // TGDISPATCH_COMPAT_POLICY_LISTS_H_
