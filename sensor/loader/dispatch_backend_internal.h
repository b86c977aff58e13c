// Helpers shared by the .cc files of the dispatch_backend library
// (dispatch_backend.cc, dispatch_entry_state.cc, dispatch_hooks.cc, dispatch_run_lists.cc,
// dispatch_per_policy.cc, dispatch_events.cc, slot_pool.cc). Private to that library: not in its hdrs.
#ifndef TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_INTERNAL_H_
#define TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_INTERNAL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/loader/compile.h"

struct bpf_link;
struct bpf_program;

namespace tgd {
namespace dispatch_internal {

// The "memlock:" line of /proc/self/fdinfo/FD (a map's kernel memory), 0 if
// it cannot be read.
uint64_t FdMemlock(int fd);

// An attach failure as a status: libbpf's own codes (4000-4099) become
// INVALID_ARGUMENT with libbpf's text, errnos an ErrnoStatus. In
// dispatch_hooks.cc, as is AttachToHook.
absl::Status AttachError(int err, const std::string& what);

// Attaches `prog` (a dispatcher or a per-policy program) to `c`'s hook; null
// with errno set on failure.
bpf_link* AttachToHook(bpf_program* prog, const CompiledHook& c);

}  // namespace dispatch_internal

// Maps a per-policy object owns (everything else is shared infrastructure).
// Defined in dispatch_per_policy.cc.
bool PerPolicyOwnsMap(absl::string_view name);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_DISPATCH_BACKEND_INTERNAL_H_
