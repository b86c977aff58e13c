// A compiled uprobe or usdt entry made ready to attach: its binary opened
// (OpenUprobeTarget) and attached through that descriptor, its
// binaryDigests checked on it, its addrs mapped to file offsets, and a usdt
// expanded into one uprobe per probe site (UsdtSiteHooks).
#ifndef TGDISPATCH_SENSOR_LOADER_UPROBE_PREPARE_H_
#define TGDISPATCH_SENSOR_LOADER_UPROBE_PREPARE_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "compat/policy/policy.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/loader/compile.h"

namespace tgd {

// Prepares `c` (a TGD_HOOK_UPROBE entry compiled from `hook`): sets its
// attach path to the opened descriptor and its offset for addrs; for a usdt,
// fills *sites. Returns the descriptor to keep open until attached, or
// nullopt when the binary matches none of binaryDigests and
// ignore.digestVerificationFailure is set (the hook is not attached).
// Errors name the field: those of OpenUprobeTarget, VerifyBinaryDigests,
// ElfFileOffsetOfAddr and UsdtSiteHooks.
absl::StatusOr<std::optional<FileDescriptor>> PrepareUprobeHook(const policy::Hook& hook, CompiledHook* c,
                                                                std::vector<CompiledHook>* sites);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_UPROBE_PREPARE_H_
