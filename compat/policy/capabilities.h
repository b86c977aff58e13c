// Linux capability names as TracingPolicy values spell them: Tetragon parses
// matchCapabilities (and capability masks) by upper-casing each value and
// looking it up in its CapabilitiesType enum (api/v1/tetragon/
// capabilities.proto), whose value 1 is DAC_OVERRIDE, without the CAP_
// prefix of every other value. This table is the one source for both the
// policy model and the loader.
#ifndef TGDISPATCH_COMPAT_POLICY_CAPABILITIES_H_
#define TGDISPATCH_COMPAT_POLICY_CAPABILITIES_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace tgd::policy {

// Capabilities 0 (CAP_CHOWN) .. kLastCapability (CAP_CHECKPOINT_RESTORE).
inline constexpr int kLastCapability = 40;

// Bit number of a capability name, case-insensitive as upstream. Accepts
// the enum names ("CAP_CHOWN", "DAC_OVERRIDE", ...) and, as an alias,
// "CAP_DAC_OVERRIDE" (the kernel's name, which Tetragon itself rejects).
// nullopt for anything else (surrounding spaces included).
std::optional<int> CapabilityBit(absl::string_view name);

// The CapabilitiesType enum name of bit `bit` ("DAC_OVERRIDE" for 1), or
// nullptr when `bit` is out of range.
const char* CapabilityEnumName(int bit);

}  // namespace tgd::policy

#endif  // TGDISPATCH_COMPAT_POLICY_CAPABILITIES_H_
