// The capability table, in bit order (linux/capability.h), spelled as
// Tetragon's CapabilitiesType enum.
#include "compat/policy/capabilities.h"

#include "absl/strings/match.h"

namespace tgd::policy {
namespace {

constexpr const char* kCapabilityEnum[kLastCapability + 1] = {
    "CAP_CHOWN", "DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

// Bit 1 under the kernel's name: accepted so policies written against
// linux/capability.h keep working.
constexpr char kDacOverrideAlias[] = "CAP_DAC_OVERRIDE";

}  // namespace

std::optional<int> CapabilityBit(absl::string_view name) {
  for (int bit = 0; bit <= kLastCapability; ++bit) {
    if (absl::EqualsIgnoreCase(name, kCapabilityEnum[bit])) return bit;
  }
  if (absl::EqualsIgnoreCase(name, kDacOverrideAlias)) return 1;
  return std::nullopt;
}

const char* CapabilityEnumName(int bit) {
  if (bit < 0 || bit > kLastCapability) return nullptr;
  return kCapabilityEnum[bit];
}

}  // namespace tgd::policy
