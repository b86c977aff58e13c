// The fixed vocabularies of a TracingPolicy (argument types, matchArgs
// operators, actions, capabilities, namespaces, socket names) and the value
// parsers Tetragon's selector compiler applies to them. Private to
// compat/policy.
#ifndef TGDISPATCH_COMPAT_POLICY_INTERNAL_VOCAB_H_
#define TGDISPATCH_COMPAT_POLICY_INTERNAL_VOCAB_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace tgd::policy::internal {

// How matchArgs treats an argument of a given type.
enum class ArgClass {
  kSigned,    // int int8 int16 int32 int64 size_t syscall64
  kUnsigned,  // uint8 uint16 uint32 uint64
  kString,    // string char_buf fd file path dentry linux_binprm data_loc net_device sockaddr_un
  kPathLike,  // filename: Prefix/Postfix only
  kSock,      // sock skb socket
  kSockaddr,  // sockaddr
  kCaps,      // kernel_cap_t cap_inheritable cap_permitted cap_effective
  kAuto,      // type resolved from BTF at load time: checked then
  kOther,     // no matchArgs operator applies
};

// True when `type` is in the CRD's argument type enum.
bool IsArgType(absl::string_view type);
ArgClass ClassOf(absl::string_view type);
// Bits of an integer type (8/16/32/64); 0 for non-integers.
int IntBits(absl::string_view type);

// matchArgs operators: returns the canonical (CRD) spelling of an accepted
// spelling, or nullopt. Tetragon accepts a few aliases (GreaterThan = GT).
std::optional<std::string> CanonicalArgOperator(absl::string_view op);
// Comma-separated list of the canonical operators, for error messages.
const char* ArgOperatorList();

// Actions: canonical spelling or nullopt. `hint` gets a case-insensitive
// match when the spelling is wrong only in case.
std::optional<std::string> CanonicalAction(absl::string_view action, std::string* hint);
const char* ActionList();

bool IsNamespaceType(absl::string_view ns);        // Uts, Ipc, ... (exact case, CRD enum)
// Capability names as Tetragon parses them (any case, DAC_OVERRIDE or its
// alias CAP_DAC_OVERRIDE): see compat/policy/capabilities.h.
bool IsCapability(absl::string_view name);

// Value parsers. Each returns OK or INVALID_ARGUMENT with a reason (no path).
// Integers use Go's strconv base-0 syntax (0x.., 0o.., 0b.., leading 0 = octal).
absl::Status ParseSigned(absl::string_view v, int bits, int64_t* out);
absl::Status ParseUnsigned(absl::string_view v, int bits, uint64_t* out);
absl::Status ParseDecimalUnsigned(absl::string_view v, uint64_t* out);
absl::Status CheckIpOrCidr(absl::string_view v);
absl::Status CheckPortOrRange(absl::string_view v);   // "80" or "8000:8080"
absl::Status CheckProtocol(absl::string_view v);      // number or IPPROTO_*
absl::Status CheckFamily(absl::string_view v);        // number or AF_*
absl::Status CheckTcpState(absl::string_view v);      // number or TCP_*
absl::Status CheckFileType(absl::string_view v);      // reg, dir, sock, ...
absl::Status CheckCapabilityMask(absl::string_view v);  // number or CAP_A,CAP_B
// rateLimit: N, Ns, Nm, Nh -> milliseconds, capped at 2^32-1.
absl::Status ParseRateLimit(absl::string_view v, uint32_t* ms);

}  // namespace tgd::policy::internal

#endif  // TGDISPATCH_COMPAT_POLICY_INTERNAL_VOCAB_H_
