// Vocabulary tables and value parsers, following Tetragon's CRD enums and
// pkg/selectors (written from their documented behaviour).
#include "compat/policy/internal/vocab.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "compat/policy/capabilities.h"

namespace tgd::policy::internal {
namespace {

struct TypeInfo {
  const char* name;
  ArgClass cls;
  int bits;
};

constexpr TypeInfo kTypes[] = {
    {"auto", ArgClass::kAuto, 0},         {"int", ArgClass::kSigned, 32},
    {"int8", ArgClass::kSigned, 8},       {"uint8", ArgClass::kUnsigned, 8},
    {"int16", ArgClass::kSigned, 16},     {"uint16", ArgClass::kUnsigned, 16},
    {"uint32", ArgClass::kUnsigned, 32},  {"int32", ArgClass::kSigned, 32},
    {"uint64", ArgClass::kUnsigned, 64},  {"int64", ArgClass::kSigned, 64},
    {"char_buf", ArgClass::kString, 0},   {"char_iovec", ArgClass::kOther, 0},
    {"size_t", ArgClass::kSigned, 32},    {"skb", ArgClass::kSock, 0},
    {"sock", ArgClass::kSock, 0},         {"sockaddr", ArgClass::kSockaddr, 0},
    {"socket", ArgClass::kSock, 0},       {"string", ArgClass::kString, 0},
    {"fd", ArgClass::kString, 0},         {"file", ArgClass::kString, 0},
    {"filename", ArgClass::kPathLike, 0}, {"path", ArgClass::kString, 0},
    {"nop", ArgClass::kOther, 0},         {"bpf_attr", ArgClass::kOther, 0},
    {"perf_event", ArgClass::kOther, 0},  {"bpf_map", ArgClass::kOther, 0},
    {"user_namespace", ArgClass::kOther, 0}, {"capability", ArgClass::kOther, 0},
    {"kiocb", ArgClass::kOther, 0},       {"iov_iter", ArgClass::kOther, 0},
    {"cred", ArgClass::kOther, 0},        {"load_info", ArgClass::kOther, 0},
    {"module", ArgClass::kOther, 0},      {"syscall64", ArgClass::kSigned, 64},
    {"kernel_cap_t", ArgClass::kCaps, 0}, {"cap_inheritable", ArgClass::kCaps, 0},
    {"cap_permitted", ArgClass::kCaps, 0}, {"cap_effective", ArgClass::kCaps, 0},
    {"linux_binprm", ArgClass::kString, 0}, {"data_loc", ArgClass::kString, 0},
    {"net_device", ArgClass::kString, 0}, {"bpf_cmd", ArgClass::kOther, 0},
    {"dentry", ArgClass::kString, 0},
    // The CRD's other spellings and the remaining generic types.
    {"sint8", ArgClass::kSigned, 8},      {"sint16", ArgClass::kSigned, 16},
    {"sint32", ArgClass::kSigned, 32},    {"sint64", ArgClass::kSigned, 64},
    {"long", ArgClass::kSigned, 64},      {"ulong", ArgClass::kUnsigned, 64},
    {"const_buf", ArgClass::kOther, 0},   {"sockaddr_un", ArgClass::kString, 0},
    {"bpf_prog", ArgClass::kOther, 0},
};

const TypeInfo* FindType(absl::string_view t) {
  for (const TypeInfo& i : kTypes) {
    if (t == i.name) return &i;
  }
  return nullptr;
}

// Accepted spelling -> canonical (CRD) spelling.
constexpr std::pair<const char*, const char*> kArgOps[] = {
    {"Equal", "Equal"}, {"NotEqual", "NotEqual"}, {"Prefix", "Prefix"}, {"NotPrefix", "NotPrefix"},
    {"Postfix", "Postfix"}, {"NotPostfix", "NotPostfix"}, {"GreaterThan", "GT"}, {"LessThan", "LT"},
    {"GT", "GT"}, {"LT", "LT"}, {"Mask", "Mask"}, {"SPort", "SPort"}, {"NotSPort", "NotSPort"},
    {"SPortPriv", "SPortPriv"}, {"NotSportPriv", "NotSportPriv"}, {"NotSPortPriv", "NotSportPriv"},
    {"DPort", "DPort"}, {"NotDPort", "NotDPort"}, {"DPortPriv", "DPortPriv"},
    {"NotDPortPriv", "NotDPortPriv"}, {"SAddr", "SAddr"}, {"NotSAddr", "NotSAddr"},
    {"DAddr", "DAddr"}, {"NotDAddr", "NotDAddr"}, {"Protocol", "Protocol"}, {"Family", "Family"},
    {"State", "State"}, {"InMap", "InMap"}, {"NotInMap", "NotInMap"},
    {"CapabilitiesGained", "CapabilitiesGained"}, {"InRange", "InRange"},
    {"NotInRange", "NotInRange"}, {"SubString", "SubString"},
    {"SubStringIgnCase", "SubStringIgnCase"}, {"FileType", "FileType"},
    {"NotFileType", "NotFileType"},
};

constexpr const char* kActions[] = {
    "Post",      "FollowFD",    "UnfollowFD",     "Sigkill",
    "CopyFD",    "Override",    "GetUrl",         "DnsLookup",
    "NoPost",    "Signal",      "TrackSock",      "UntrackSock",
    "NotifyEnforcer", "CleanupEnforcerNotification", "Set",
};

constexpr const char* kNamespaces[] = {"Uts", "Ipc", "Mnt", "Pid", "PidForChildren",
                                       "Net", "Time", "TimeForChildren", "Cgroup", "User"};

constexpr const char* kProtocols[] = {
    "IPPROTO_IP", "IPPROTO_ICMP", "IPPROTO_IGMP", "IPPROTO_IPIP", "IPPROTO_TCP",
    "IPPROTO_EGP", "IPPROTO_PUP", "IPPROTO_UDP", "IPPROTO_IDP", "IPPROTO_TP",
    "IPPROTO_DCCP", "IPPROTO_IPV6", "IPPROTO_RSVP", "IPPROTO_GRE", "IPPROTO_ESP",
    "IPPROTO_AH", "IPPROTO_ICMPV6", "IPPROTO_MTP", "IPPROTO_BEETPH", "IPPROTO_ENCAP",
    "IPPROTO_PIM", "IPPROTO_COMP", "IPPROTO_L2TP", "IPPROTO_SCTP", "IPPROTO_UDPLITE",
    "IPPROTO_MPLS", "IPPROTO_ETHERNET", "IPPROTO_RAW", "IPPROTO_MPTCP",
};

constexpr const char* kFamilies[] = {
    "AF_UNSPEC", "AF_UNIX", "AF_LOCAL", "AF_INET", "AF_AX25", "AF_IPX", "AF_APPLETALK",
    "AF_NETROM", "AF_BRIDGE", "AF_ATMPVC", "AF_X25", "AF_INET6", "AF_ROSE", "AF_DECnet",
    "AF_NETBEUI", "AF_SECURITY", "AF_KEY", "AF_NETLINK", "AF_ROUTE", "AF_PACKET", "AF_ASH",
    "AF_ECONET", "AF_ATMSVC", "AF_RDS", "AF_SNA", "AF_IRDA", "AF_PPPOX", "AF_WANPIPE",
    "AF_LLC", "AF_IB", "AF_MPLS", "AF_CAN", "AF_TIPC", "AF_BLUETOOTH", "AF_IUCV", "AF_RXRPC",
    "AF_ISDN", "AF_PHONET", "AF_IEEE802154", "AF_CAIF", "AF_ALG", "AF_NFC", "AF_VSOCK",
    "AF_KCM", "AF_QIPCRTR", "AF_SMC", "AF_XDP", "AF_MCTP",
};

constexpr const char* kTcpStates[] = {
    "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2",
    "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN",
    "TCP_CLOSING", "TCP_NEW_SYN_RECV",
};

constexpr const char* kFileTypes[] = {"sock", "socket", "lnk", "link", "reg", "regular", "blk",
                                      "block", "dir", "chr", "char", "fifo", "pipe"};

template <typename Table>
bool InTable(const Table& t, absl::string_view v) {
  for (const char* s : t) {
    if (v == s) return true;
  }
  return false;
}

// Go strconv base-0 magnitude parser: returns false on syntax error or
// overflow of uint64.
bool ParseMagnitude(absl::string_view v, uint64_t* out) {
  if (v.empty()) return false;
  int base = 10;
  if (v.size() > 1 && v[0] == '0') {
    char p = static_cast<char>(absl::ascii_tolower(static_cast<unsigned char>(v[1])));
    if (p == 'x') base = 16, v.remove_prefix(2);
    else if (p == 'b') base = 2, v.remove_prefix(2);
    else if (p == 'o') base = 8, v.remove_prefix(2);
    else base = 8, v.remove_prefix(1);
  }
  if (v.empty()) return false;
  uint64_t n = 0;
  bool last_underscore = true;  // no leading underscore
  for (char c : v) {
    if (c == '_') {
      if (last_underscore) return false;
      last_underscore = true;
      continue;
    }
    last_underscore = false;
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= base) return false;
    if (n > (std::numeric_limits<uint64_t>::max() - d) / base) return false;
    n = n * base + d;
  }
  if (last_underscore) return false;
  *out = n;
  return true;
}

absl::Status NotA(absl::string_view v, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("\"", v, "\" is not ", what));
}

}  // namespace

bool IsArgType(absl::string_view type) { return FindType(type) != nullptr; }

ArgClass ClassOf(absl::string_view type) {
  const TypeInfo* i = FindType(type);
  return i ? i->cls : ArgClass::kOther;
}

int IntBits(absl::string_view type) {
  const TypeInfo* i = FindType(type);
  return i ? i->bits : 0;
}

std::optional<std::string> CanonicalArgOperator(absl::string_view op) {
  for (const auto& [spelling, canonical] : kArgOps) {
    if (op == spelling) return std::string(canonical);
  }
  return std::nullopt;
}

const char* ArgOperatorList() {
  return "Equal, NotEqual, Prefix, NotPrefix, Postfix, NotPostfix, GT (GreaterThan), "
         "LT (LessThan), Mask, SPort, NotSPort, SPortPriv, NotSportPriv, DPort, NotDPort, "
         "DPortPriv, NotDPortPriv, SAddr, NotSAddr, DAddr, NotDAddr, Protocol, Family, State, "
         "InMap, NotInMap, CapabilitiesGained, InRange, NotInRange, SubString, "
         "SubStringIgnCase, FileType, NotFileType";
}

std::optional<std::string> CanonicalAction(absl::string_view action, std::string* hint) {
  for (const char* a : kActions) {
    if (action == a) return std::string(a);
    if (hint != nullptr && absl::EqualsIgnoreCase(action, a)) *hint = a;
  }
  return std::nullopt;
}

const char* ActionList() {
  return "Post, FollowFD, UnfollowFD, Sigkill, CopyFD, Override, GetUrl, DnsLookup, NoPost, "
         "Signal, TrackSock, UntrackSock, NotifyEnforcer, CleanupEnforcerNotification, Set";
}

bool IsNamespaceType(absl::string_view ns) { return InTable(kNamespaces, ns); }
bool IsCapability(absl::string_view name) { return CapabilityBit(name).has_value(); }

absl::Status ParseSigned(absl::string_view v, int bits, int64_t* out) {
  bool neg = false;
  absl::string_view m = v;
  if (!m.empty() && (m[0] == '-' || m[0] == '+')) {
    neg = m[0] == '-';
    m.remove_prefix(1);
  }
  uint64_t mag;
  if (!ParseMagnitude(m, &mag)) return NotA(v, absl::StrCat("a ", bits, "-bit signed integer"));
  uint64_t limit = (uint64_t{1} << (bits - 1)) - (neg ? 0 : 1);
  if (bits == 64) limit = neg ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
  if (mag > limit) return NotA(v, absl::StrCat("in the range of a ", bits, "-bit signed integer"));
  *out = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
  return absl::OkStatus();
}

absl::Status ParseUnsigned(absl::string_view v, int bits, uint64_t* out) {
  absl::string_view m = v;
  if (!m.empty() && m[0] == '+') m.remove_prefix(1);
  uint64_t mag;
  if (!ParseMagnitude(m, &mag)) return NotA(v, absl::StrCat("a ", bits, "-bit unsigned integer"));
  if (bits < 64 && mag > (uint64_t{1} << bits) - 1) {
    return NotA(v, absl::StrCat("in the range of a ", bits, "-bit unsigned integer"));
  }
  *out = mag;
  return absl::OkStatus();
}

absl::Status ParseDecimalUnsigned(absl::string_view v, uint64_t* out) {
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(v, out)) {
    return NotA(v, "a decimal unsigned integer");
  }
  return absl::OkStatus();
}

absl::Status CheckIpOrCidr(absl::string_view v) {
  std::string s(v);
  std::string addr = s;
  int bits = -1;
  size_t slash = s.find('/');
  if (slash != std::string::npos) {
    addr = s.substr(0, slash);
    std::string b = s.substr(slash + 1);
    if (b.empty() || b.size() > 3 || !std::all_of(b.begin(), b.end(), absl::ascii_isdigit) ||
        (b.size() > 1 && b[0] == '0')) {
      return NotA(v, "an IP address or CIDR (bad prefix length)");
    }
    bits = std::stoi(b);
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    if (bits > 32) return NotA(v, "a valid IPv4 CIDR (prefix length over 32)");
    return absl::OkStatus();
  }
  if (addr.find(':') != std::string::npos && inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    if (bits > 128) return NotA(v, "a valid IPv6 CIDR (prefix length over 128)");
    return absl::OkStatus();
  }
  return NotA(v, "an IP address or CIDR");
}

absl::Status CheckPortOrRange(absl::string_view v) {
  std::vector<absl::string_view> parts = absl::StrSplit(v, ':');
  if (parts.size() > 2) return NotA(v, "a port or a port range 'min:max'");
  for (absl::string_view p : parts) {
    uint64_t n;
    if (!ParseDecimalUnsigned(p, &n).ok() || n > 65535) {
      return NotA(v, "a port (0-65535) or a port range 'min:max'");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckProtocol(absl::string_view v) {
  uint64_t n;
  if (InTable(kProtocols, v) || (ParseDecimalUnsigned(v, &n).ok() && n <= 255)) return absl::OkStatus();
  return NotA(v, "a protocol number (0-255) or name like IPPROTO_TCP");
}

absl::Status CheckFamily(absl::string_view v) {
  uint64_t n;
  if (InTable(kFamilies, v) || (ParseDecimalUnsigned(v, &n).ok() && n <= 65535)) return absl::OkStatus();
  return NotA(v, "an address family number or name like AF_INET");
}

absl::Status CheckTcpState(absl::string_view v) {
  uint64_t n;
  if (InTable(kTcpStates, v) || (ParseDecimalUnsigned(v, &n).ok() && n <= 255)) return absl::OkStatus();
  return NotA(v, "a TCP state number or name like TCP_SYN_SENT");
}

absl::Status CheckFileType(absl::string_view v) {
  if (InTable(kFileTypes, v)) return absl::OkStatus();
  return NotA(v, "a file type (sock, lnk, reg, blk, dir, chr, fifo or their long names)");
}

absl::Status CheckCapabilityMask(absl::string_view v) {
  uint64_t n;
  if (ParseUnsigned(v, 64, &n).ok()) return absl::OkStatus();
  for (absl::string_view c : absl::StrSplit(v, ',')) {
    std::string up = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(c));
    if (!IsCapability(up)) return NotA(v, absl::StrCat("a capability mask (", up, " is not a capability)"));
  }
  return absl::OkStatus();
}

absl::Status ParseRateLimit(absl::string_view v, uint32_t* ms) {
  if (v.empty()) return NotA(v, "a rate limit");
  uint64_t mult = 1;
  absl::string_view num = v;
  switch (v.back()) {
    case 's': case 'S': mult = 1; num.remove_suffix(1); break;
    case 'm': case 'M': mult = 60; num.remove_suffix(1); break;
    case 'h': case 'H': mult = 3600; num.remove_suffix(1); break;
    default: break;
  }
  uint64_t n;
  if (!ParseDecimalUnsigned(num, &n).ok() || n > 0xffffffffu) {
    return NotA(v, "a rate limit (N, Ns, Nm or Nh)");
  }
  uint64_t total = n * mult * 1000;
  *ms = static_cast<uint32_t>(std::min<uint64_t>(total, 0xffffffffu));
  return absl::OkStatus();
}

}  // namespace tgd::policy::internal
