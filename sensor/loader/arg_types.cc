// Kernel-object and buffer argument types and their matchArgs operators
// (see arg_types.h). Names, defaults and operator semantics follow Tetragon's
// generic types and selector compiler.
#include "sensor/loader/arg_types.h"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "compat/policy/capabilities.h"

namespace tgd {
namespace {

absl::Status Unimplemented(const std::string& path, absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat(path, ": ", what, " is not supported by tgdispatch yet"));
}

absl::Status Invalid(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

struct ObjectType {
  const char* name;
  uint8_t code;  // TGD_ARG_*; 0: not readable yet
  ArgRender render;
  const char* why_not = nullptr;  // code 0: what is missing
};

// Every generic type that is not an integer, string, data_loc or auto.
constexpr ObjectType kObjectTypes[] = {
    {"file", TGD_ARG_FILE, ArgRender::kFile},
    {"fd", TGD_ARG_FD, ArgRender::kFile},
    {"kiocb", TGD_ARG_KIOCB, ArgRender::kFile},
    {"path", TGD_ARG_PATH, ArgRender::kPath},
    {"dentry", TGD_ARG_DENTRY, ArgRender::kPath},
    {"linux_binprm", TGD_ARG_BINPRM, ArgRender::kLinuxBinprm},
    {"filename", TGD_ARG_FILENAME, ArgRender::kString},
    {"net_device", TGD_ARG_NETDEV, ArgRender::kString},
    {"sock", TGD_ARG_SOCK, ArgRender::kSock},
    {"socket", TGD_ARG_SOCKET, ArgRender::kSock},
    {"skb", TGD_ARG_SKB, ArgRender::kSkb},
    {"cred", TGD_ARG_CRED, ArgRender::kCred},
    {"user_namespace", TGD_ARG_USER_NS, ArgRender::kUserNs},
    {"capability", TGD_ARG_INT, ArgRender::kCapability},
    {"bpf_cmd", TGD_ARG_INT, ArgRender::kBpfCmd},
    {"kernel_cap_t", TGD_ARG_CAP_SET, ArgRender::kKernelCapT},
    {"cap_inheritable", TGD_ARG_CAP_SET, ArgRender::kCapInheritable},
    {"cap_permitted", TGD_ARG_CAP_SET, ArgRender::kCapPermitted},
    {"cap_effective", TGD_ARG_CAP_SET, ArgRender::kCapEffective},
    {"char_buf", TGD_ARG_USER_BUF, ArgRender::kBytes},
    {"nop", TGD_ARG_INT, ArgRender::kNop},
    {"syscall64", TGD_ARG_INT, ArgRender::kSyscall64},
    {"char_iovec", TGD_ARG_IOVEC, ArgRender::kBytes},
    {"iov_iter", TGD_ARG_IOV_ITER, ArgRender::kBytes},
    {"const_buf", 0, ArgRender::kBytes, "fixed-size buffers from BTF array types"},
    {"sockaddr", TGD_ARG_SOCKADDR, ArgRender::kSockaddr},
    {"sockaddr_un", TGD_ARG_SOCKADDR_UN, ArgRender::kSockaddrUn},
    {"bpf_attr", TGD_ARG_BPF_ATTR, ArgRender::kBpfAttr},
    {"bpf_map", TGD_ARG_BPF_MAP, ArgRender::kBpfMap},
    {"bpf_prog", TGD_ARG_BPF_PROG, ArgRender::kBpfProg},
    {"perf_event", TGD_ARG_PERF_EVENT, ArgRender::kPerfEvent},
    {"load_info", TGD_ARG_LOAD_INFO, ArgRender::kLoadInfo},
    {"module", TGD_ARG_MODULE, ArgRender::kModule},
};

const ObjectType* FindObjectType(const std::string& t) {
  for (const ObjectType& o : kObjectTypes) {
    if (t == o.name) return &o;
  }
  return nullptr;
}

bool IsPointerType(uint8_t code) { return code != TGD_ARG_INT && code != TGD_ARG_FD; }

// Whether buffers of this hook are user memory.
bool UserMemory(const policy::Hook& hook) {
  switch (hook.kind) {
    case policy::HookKind::kTracepoint: return hook.subsystem == "syscalls";
    case policy::HookKind::kKprobe: return hook.syscall;
    case policy::HookKind::kUprobe:
    case policy::HookKind::kUsdt: return true;
    default: return false;
  }
}

bool IsStringLike(uint8_t type) {
  switch (type) {
    case TGD_ARG_STR_USER: case TGD_ARG_STR_KERNEL: case TGD_ARG_DATA_LOC_STR: case TGD_ARG_INLINE_STR:
    case TGD_ARG_FILE: case TGD_ARG_PATH: case TGD_ARG_DENTRY: case TGD_ARG_BINPRM: case TGD_ARG_FD:
    case TGD_ARG_KIOCB: case TGD_ARG_NETDEV: case TGD_ARG_SOCKADDR_UN: case TGD_ARG_IOVEC: case TGD_ARG_FILENAME: case TGD_ARG_USER_BUF:
    case TGD_ARG_KERNEL_BUF:
      return true;
  }
  return false;
}

bool IsNet(uint8_t type) {
  return type == TGD_ARG_SOCK || type == TGD_ARG_SOCKET || type == TGD_ARG_SKB || type == TGD_ARG_SOCKADDR;
}

// Decimal, 0x hex or 0 octal unsigned integer.
bool ParseU64(absl::string_view v, uint64_t* out) {
  v = absl::StripAsciiWhitespace(v);
  if (v.empty()) return false;
  int base = 10;
  if (absl::ConsumePrefix(&v, "0x") || absl::ConsumePrefix(&v, "0X")) {
    base = 16;
  } else if (v.size() > 1 && v[0] == '0') {
    base = 8;
  }
  if (v.empty()) return false;
  uint64_t x = 0;
  for (char c : v) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= base || x > (~0ULL - d) / base) return false;
    x = x * base + d;
  }
  *out = x;
  return true;
}

bool ParseS64(absl::string_view v, int64_t* out) {
  v = absl::StripAsciiWhitespace(v);
  bool neg = absl::ConsumePrefix(&v, "-");
  uint64_t x;
  if (!ParseU64(v, &x) || x > (neg ? (1ULL << 63) : (1ULL << 63) - 1)) return false;
  *out = neg ? static_cast<int64_t>(~x + 1) : static_cast<int64_t>(x);
  return true;
}

// Tetragon's names for Family, Protocol and State values.
std::optional<uint64_t> NamedNumber(const std::string& op, absl::string_view v) {
  static constexpr std::pair<const char*, int> kFamilies[] = {
      {"AF_UNSPEC", 0}, {"AF_UNIX", 1}, {"AF_LOCAL", 1}, {"AF_INET", 2}, {"AF_AX25", 3}, {"AF_IPX", 4},
      {"AF_APPLETALK", 5}, {"AF_NETROM", 6}, {"AF_BRIDGE", 7}, {"AF_ATMPVC", 8}, {"AF_X25", 9},
      {"AF_INET6", 10}, {"AF_ROSE", 11}, {"AF_DECnet", 12}, {"AF_NETBEUI", 13}, {"AF_SECURITY", 14},
      {"AF_KEY", 15}, {"AF_NETLINK", 16}, {"AF_ROUTE", 16}, {"AF_PACKET", 17}, {"AF_ASH", 18},
      {"AF_ECONET", 19}, {"AF_ATMSVC", 20}, {"AF_RDS", 21}, {"AF_SNA", 22}, {"AF_IRDA", 23},
      {"AF_PPPOX", 24}, {"AF_WANPIPE", 25}, {"AF_LLC", 26}, {"AF_IB", 27}, {"AF_MPLS", 28}, {"AF_CAN", 29},
      {"AF_TIPC", 30}, {"AF_BLUETOOTH", 31}, {"AF_IUCV", 32}, {"AF_RXRPC", 33}, {"AF_ISDN", 34},
      {"AF_PHONET", 35}, {"AF_IEEE802154", 36}, {"AF_CAIF", 37}, {"AF_ALG", 38}, {"AF_NFC", 39},
      {"AF_VSOCK", 40}, {"AF_KCM", 41}, {"AF_QIPCRTR", 42}, {"AF_SMC", 43}, {"AF_XDP", 44}, {"AF_MCTP", 45}};
  static constexpr std::pair<const char*, int> kProtocols[] = {
      {"IPPROTO_IP", 0}, {"IPPROTO_ICMP", 1}, {"IPPROTO_IGMP", 2}, {"IPPROTO_IPIP", 4}, {"IPPROTO_TCP", 6},
      {"IPPROTO_EGP", 8}, {"IPPROTO_PUP", 12}, {"IPPROTO_UDP", 17}, {"IPPROTO_IDP", 22}, {"IPPROTO_TP", 29},
      {"IPPROTO_DCCP", 33}, {"IPPROTO_IPV6", 41}, {"IPPROTO_RSVP", 46}, {"IPPROTO_GRE", 47},
      {"IPPROTO_ESP", 50}, {"IPPROTO_AH", 51}, {"IPPROTO_ICMPV6", 58}, {"IPPROTO_MTP", 92},
      {"IPPROTO_BEETPH", 94}, {"IPPROTO_ENCAP", 98}, {"IPPROTO_PIM", 103}, {"IPPROTO_COMP", 108},
      {"IPPROTO_L2TP", 115}, {"IPPROTO_SCTP", 132}, {"IPPROTO_UDPLITE", 136}, {"IPPROTO_MPLS", 137},
      {"IPPROTO_ETHERNET", 143}, {"IPPROTO_RAW", 255}, {"IPPROTO_MPTCP", 262}};
  static constexpr std::pair<const char*, int> kStates[] = {
      {"TCP_ESTABLISHED", 1}, {"TCP_SYN_SENT", 2}, {"TCP_SYN_RECV", 3}, {"TCP_FIN_WAIT1", 4},
      {"TCP_FIN_WAIT2", 5}, {"TCP_TIME_WAIT", 6}, {"TCP_CLOSE", 7}, {"TCP_CLOSE_WAIT", 8},
      {"TCP_LAST_ACK", 9}, {"TCP_LISTEN", 10}, {"TCP_CLOSING", 11}, {"TCP_NEW_SYN_RECV", 12}};
  auto find = [&](const auto& table) -> std::optional<uint64_t> {
    for (const auto& [name, num] : table) {
      if (v == name) return num;
    }
    return std::nullopt;
  };
  if (op == "Family") return find(kFamilies);
  if (op == "Protocol") return find(kProtocols);
  if (op == "State") return find(kStates);
  return std::nullopt;
}

std::optional<uint64_t> FileTypeBits(absl::string_view v) {
  static constexpr std::pair<const char*, uint64_t> kTypes[] = {
      {"sock", 0140000}, {"socket", 0140000}, {"lnk", 0120000}, {"link", 0120000}, {"reg", 0100000},
      {"regular", 0100000}, {"blk", 060000}, {"block", 060000}, {"dir", 040000}, {"chr", 020000},
      {"char", 020000}, {"fifo", 010000}, {"pipe", 010000}};
  for (const auto& [name, bits] : kTypes) {
    if (v == name) return bits;
  }
  return std::nullopt;
}

// Capability mask: a number or CAP_A,CAP_B (as Tetragon's capability values).
std::optional<uint64_t> CapabilityMask(absl::string_view v) {
  uint64_t x;
  if (ParseU64(v, &x)) return x;
  uint64_t mask = 0;
  for (absl::string_view part : absl::StrSplit(v, ',')) {
    std::optional<int> bit = policy::CapabilityBit(absl::StripAsciiWhitespace(part));
    if (!bit) return std::nullopt;
    mask |= 1ULL << *bit;
  }
  return mask;
}

// An address or CIDR as an LPM key: family byte (4 or 6), then the address.
absl::Status AddCidr(CompiledHook* out, uint32_t tag, const std::string& value, const std::string& path) {
  std::string addr = value;
  int bits = -1;
  if (size_t slash = value.find('/'); slash != std::string::npos) {
    addr = value.substr(0, slash);
    if (!absl::SimpleAtoi(value.substr(slash + 1), &bits)) bits = -2;
  }
  tgd_lpm_key k{};
  k.tag = tag;
  unsigned char buf[16];
  int max;
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    k.s[0] = 4;
    memcpy(&k.s[1], buf, 4);
    max = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    k.s[0] = 6;
    memcpy(&k.s[1], buf, 16);
    max = 128;
  } else {
    return Invalid(path, absl::StrCat("\"", value, "\" is not an IP address or CIDR"));
  }
  if (bits == -1) bits = max;
  if (bits < 0 || bits > max) return Invalid(path, absl::StrCat("\"", value, "\" has a bad prefix length"));
  k.prefixlen = 64 + 8 + bits;
  out->prefixes.push_back(k);
  return absl::OkStatus();
}

// Values of a set-or-range clause: each value a number (or name) or "a:b".
absl::Status AddSetOrRange(const policy::MatchArg& m, tgd_int_clause& c, uint32_t tag, bool is_signed,
                           CompiledHook* out) {
  for (size_t j = 0; j < m.values.size(); ++j) {
    const std::string vpath = absl::StrCat(m.path, ".values[", j, "]");
    const std::string& v = m.values[j];
    std::vector<std::string> parts = absl::StrSplit(v, ':');
    if (parts.size() == 2) {
      if (c.has_range) return Unimplemented(vpath, "more than one range per matchArgs entry");
      uint64_t lo, hi;
      int64_t slo, shi;
      if (is_signed ? !(ParseS64(parts[0], &slo) && ParseS64(parts[1], &shi)) : !(ParseU64(parts[0], &lo) && ParseU64(parts[1], &hi))) {
        return Invalid(vpath, absl::StrCat("\"", v, "\" is not a range 'min:max'"));
      }
      if (is_signed) lo = static_cast<uint64_t>(slo), hi = static_cast<uint64_t>(shi);
      c.has_range = 1;
      c.value = lo;
      c.value2 = hi;
      continue;
    }
    if (absl::StartsWith(v, "list:")) return Unimplemented(vpath, "lists in matchArgs values");
    uint64_t x;
    int64_t sx;
    if (std::optional<uint64_t> named = NamedNumber(m.op == "NotFamily" ? "Family" : m.op, v)) {
      x = *named;
    } else if (is_signed && ParseS64(v, &sx)) {
      x = static_cast<uint64_t>(sx);
    } else if (!ParseU64(v, &x)) {
      return Invalid(vpath, absl::StrCat("\"", v, "\" is not a value for ", m.op));
    }
    out->ints.push_back({0, tag, x});
  }
  return absl::OkStatus();
}

}  // namespace

bool IsObjectArgType(const std::string& type) { return FindObjectType(type) != nullptr; }

absl::Status ApplyResolvedPath(const ResolvedPath& r, const policy::ArgSpec& a, const std::string& path,
                               tgd_arg_desc* d) {
  auto mismatch = [&](absl::string_view what) {
    return Invalid(path + ".resolve", absl::StrCat("\"", a.resolve, "\" ends on ", what, ", which a ", a.type,
                                                   " argument cannot read"));
  };
  switch (r.kind) {
    case ResolvedKind::kCharArray:
    case ResolvedKind::kCharPointer:
      if (a.type != "string") return mismatch("a string");
      d->type = r.res.user ? TGD_ARG_STR_USER : TGD_ARG_STR_KERNEL;
      return absl::OkStatus();
    case ResolvedKind::kInteger:
      if (d->type != TGD_ARG_INT) return mismatch("an integer");
      d->size = std::min<int>(d->size, r.int_size);
      return absl::OkStatus();
    case ResolvedKind::kPointer:
      if (d->type == TGD_ARG_INT || d->type <= TGD_ARG_INLINE_STR || d->type == TGD_ARG_FD) {
        return mismatch("a pointer to a struct");
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status CompileObjectArg(const policy::Hook& hook, const policy::ArgSpec& a, const std::string& path,
                              const TracepointField* field, const TracepointFormat* format, tgd_arg_desc* d,
                              CompiledArg* ca) {
  const ObjectType* o = FindObjectType(a.type);
  if (!o) return Unimplemented(path + ".type", absl::StrCat("argument type \"", a.type, "\""));
  if (a.type == "const_buf") {  // as Tetragon: the type comes from a tracepoint array field, never from a policy
    return Invalid(path + ".type", "const_buf cannot be declared: Tetragon derives it from a tracepoint's array fields");
  }
  if (o->code == 0) {
    return Unimplemented(path + ".type", absl::StrCat("argument type \"", a.type, "\" (", o->why_not, ")"));
  }
  if (a.return_copy && o->code != TGD_ARG_USER_BUF && o->code != TGD_ARG_IOVEC) {
    return Invalid(path + ".returnCopy", absl::StrCat("returnCopy applies to char_buf and char_iovec, not ", a.type));
  }
  if (a.return_copy && hook.kind != policy::HookKind::kKprobe && hook.kind != policy::HookKind::kUprobe) {
    return Unimplemented(path + ".returnCopy", absl::StrCat("returnCopy on ", policy::HookKindName(hook.kind)));
  }
  ca->render = o->render;
  d->type = o->code;
  d->size_loc = 0xffff;
  if (o->code == TGD_ARG_INT) {
    const bool wide = o->render == ArgRender::kNop || o->render == ArgRender::kSyscall64;
    d->size = wide ? 8 : 4;
    d->is_signed = o->render != ArgRender::kNop;
    // Tetragon flags 32-bit syscalls in a tracepoint's syscall64 value.
    if (o->render == ArgRender::kSyscall64 && hook.kind == policy::HookKind::kTracepoint) {
      d->is_signed = TGD_INT_SYSCALL64;
    }
  }
  if (field) {
    const bool ok = IsPointerType(o->code) ? field->size == 8 : (field->size == 4 || field->size == 8);
    if (!ok && o->render != ArgRender::kNop) {
      return Invalid(path + ".type", absl::StrCat("field ", field->name, " (", field->type, ", ", field->size,
                                                  " bytes) cannot hold a ", a.type));
    }
    if (o->code == TGD_ARG_INT) d->size = std::min<uint32_t>(d->size, field->size);
  }
  if (o->code == TGD_ARG_SOCKADDR || o->code == TGD_ARG_SOCKADDR_UN) d->is_signed = UserMemory(hook);
  if (o->code == TGD_ARG_USER_BUF || o->code == TGD_ARG_IOVEC) {
    if (o->code == TGD_ARG_USER_BUF && !UserMemory(hook)) d->type = TGD_ARG_KERNEL_BUF;
    if (a.size_arg_index <= 0) {
      return Unimplemented(path + ".sizeArgIndex", absl::StrCat(a.type, " without sizeArgIndex (returnCopy)"));
    }
    const size_t n = static_cast<size_t>(a.size_arg_index - 1);
    if (format) {
      if (n >= format->fields.size()) {
        return Invalid(path + ".sizeArgIndex", absl::StrCat(a.size_arg_index, " is out of range: ", hook.subsystem,
                                                            "/", hook.event, " has ", format->fields.size(), " fields"));
      }
      const TracepointField& f = format->fields[n];
      if (f.size != 1 && f.size != 2 && f.size != 4 && f.size != 8) {
        return Invalid(path + ".sizeArgIndex", absl::StrCat("field ", f.name, " is not an integer"));
      }
      d->size_loc = f.offset;
      d->is_signed = f.size;  // bytes of the length field
    } else {
      if (n >= (hook.kind == policy::HookKind::kRawTracepoint ? 12u : 5u)) {
        return Invalid(path + ".sizeArgIndex", absl::StrCat(a.size_arg_index, " is out of range"));
      }
      d->size_loc = n;
      d->is_signed = 8;
    }
    if (o->code == TGD_ARG_IOVEC) {  // size: bytes of the count field; is_signed: user memory
      d->size = d->is_signed;
      d->is_signed = UserMemory(hook);
    }
  } else if (a.size_arg_index != 0) {
    return Invalid(path + ".sizeArgIndex", absl::StrCat("sizeArgIndex applies to char_buf, not ", a.type));
  }
  return absl::OkStatus();
}

std::optional<absl::Status> CompileObjectMatch(const policy::MatchArg& m, int pos, int sel_idx, CompiledHook* out) {
  const tgd_arg_desc& d = out->cfg.args[pos];
  const ArgRender render = out->args[pos].render;
  const std::string& op = m.op;
  tgd_selector& sel = out->cfg.sel[sel_idx];
  const bool is_int = d.type == TGD_ARG_INT || d.type == TGD_ARG_CAP_SET;
  const bool is_plain = (d.type == TGD_ARG_INT && render != ArgRender::kCapability && render != ArgRender::kBpfCmd) ||
                        d.type <= TGD_ARG_INLINE_STR;
  const bool plain_op = op == "Equal" || op == "NotEqual" || op == "Prefix" || op == "NotPrefix" ||
                        op == "Postfix" || op == "NotPostfix" || op == "GT" || op == "LT" || op == "Mask";
  if (is_plain && plain_op) return std::nullopt;

  auto bad = [&](absl::string_view why) {
    return Invalid(m.path + ".operator", absl::StrCat("operator \"", op, "\" does not apply to argument ", m.index,
                                                      " (", why, ")"));
  };
  auto new_int = [&]() -> std::optional<tgd_int_clause*> {
    if (sel.n_int >= TGD_MAX_INT_CLAUSES) return std::nullopt;
    tgd_int_clause& c = sel.ints[sel.n_int++];
    c = {};
    c.arg = pos;
    return &c;
  };
  auto too_many = [&](const char* kind, int max) {
    return Unimplemented(m.path, absl::StrCat("more than ", max, " ", kind, " matchArgs per selector"));
  };

  // Strings and paths.
  if (op == "Equal" || op == "NotEqual" || op == "Prefix" || op == "NotPrefix" || op == "Postfix" ||
      op == "NotPostfix") {
    if (IsStringLike(d.type)) {
      if (sel.n_str >= TGD_MAX_STR_CLAUSES) return too_many("string", TGD_MAX_STR_CLAUSES);
      int idx = sel.n_str++;
      uint8_t code = op == "Equal" ? TGD_OP_EQ : op == "NotEqual" ? TGD_OP_NEQ : op == "Prefix" ? TGD_OP_PREFIX
                   : op == "NotPrefix" ? TGD_OP_NOT_PREFIX : op == "Postfix" ? TGD_OP_POSTFIX : TGD_OP_NOT_POSTFIX;
      sel.strs[idx] = {code, static_cast<uint8_t>(pos), TGD_FIELD_VALUE, 0};
      uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_STR, idx);
      for (size_t j = 0; j < m.values.size(); ++j) {
        absl::Status s = AddStringValue(out, code, tag, m.values[j], absl::StrCat(m.path, ".values[", j, "]"));
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    if (is_int && (op == "Equal" || op == "NotEqual")) {
      auto c = new_int();
      if (!c) return too_many("integer", TGD_MAX_INT_CLAUSES);
      (*c)->op = op == "Equal" ? TGD_OP_EQ : TGD_OP_NEQ;
      uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_INT, sel.n_int - 1);
      for (size_t j = 0; j < m.values.size(); ++j) {
        std::optional<uint64_t> x = CapabilityMask(m.values[j]);
        int64_t sx;
        if (!x && ParseS64(m.values[j], &sx)) x = static_cast<uint64_t>(sx);
        if (!x) return Invalid(absl::StrCat(m.path, ".values[", j, "]"), absl::StrCat("\"", m.values[j], "\" is not a value"));
        out->ints.push_back({0, tag, *x});
      }
      return absl::OkStatus();
    }
    return bad("not a string, path or integer");
  }
  if (op == "GT" || op == "LT" || op == "Mask") {
    if (!is_int) return bad("not an integer");
    auto c = new_int();
    if (!c) return too_many("integer", TGD_MAX_INT_CLAUSES);
    (*c)->op = op == "GT" ? TGD_OP_GT : op == "LT" ? TGD_OP_LT : TGD_OP_MASK;
    for (size_t j = 0; j < m.values.size(); ++j) {
      std::optional<uint64_t> x = CapabilityMask(m.values[j]);
      if (!x) return Invalid(absl::StrCat(m.path, ".values[", j, "]"), absl::StrCat("\"", m.values[j], "\" is not a value"));
      (*c)->value = op == "Mask" ? ((*c)->value | *x) : *x;
    }
    return absl::OkStatus();
  }
  if ((op == "InMap" || op == "NotInMap") && is_plain && d.type == TGD_ARG_INT) {
    // Syscall lists ("list:NAME") and several ranges: the value-set form of
    // compile.cc (in_map.cc), which expands them into one integer set.
    int ranges = 0;
    for (const std::string& v : m.values) ranges += absl::StrContains(v, ':') && !absl::StartsWith(v, "list:");
    if (!m.list_ids.empty() || ranges > 1) return std::nullopt;
  }
  if (op == "InRange" || op == "NotInRange" || op == "InMap" || op == "NotInMap") {
    if (!is_int) return bad("not an integer");
    auto c = new_int();
    if (!c) return too_many("integer", TGD_MAX_INT_CLAUSES);
    (*c)->op = absl::StartsWith(op, "Not") ? TGD_OP_NOT_IN_RANGE : TGD_OP_IN_RANGE;
    return AddSetOrRange(m, **c, TGD_TAG(0, sel_idx, TGD_TAG_INT, sel.n_int - 1), d.is_signed, out);
  }
  if (op == "FileType" || op == "NotFileType") {
    if (d.type != TGD_ARG_FILE && d.type != TGD_ARG_PATH && d.type != TGD_ARG_FD && d.type != TGD_ARG_DENTRY &&
        d.type != TGD_ARG_BINPRM && d.type != TGD_ARG_KIOCB) {
      return bad("not a file or path");
    }
    auto c = new_int();
    if (!c) return too_many("integer", TGD_MAX_INT_CLAUSES);
    (*c)->op = op == "FileType" ? TGD_OP_EQ : TGD_OP_NEQ;
    (*c)->field = TGD_FIELD_FILE_TYPE;
    uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_INT, sel.n_int - 1);
    for (size_t j = 0; j < m.values.size(); ++j) {
      std::optional<uint64_t> bits = FileTypeBits(m.values[j]);
      if (!bits) return Invalid(absl::StrCat(m.path, ".values[", j, "]"), absl::StrCat("\"", m.values[j], "\" is not a file type"));
      out->ints.push_back({0, tag, *bits});
    }
    return absl::OkStatus();
  }
  const bool port = absl::StrContains(op, "Port");
  if (port || op == "Family" || op == "Protocol" || op == "State") {
    if (!IsNet(d.type)) return bad("not a sock, socket or skb");
    auto c = new_int();
    if (!c) return too_many("integer", TGD_MAX_INT_CLAUSES);
    const bool neg = absl::StartsWith(op, "Not");
    (*c)->op = neg ? TGD_OP_NOT_IN_RANGE : TGD_OP_IN_RANGE;
    (*c)->field = absl::StrContains(op, "SPort") || absl::StrContains(op, "Sport") ? TGD_FIELD_SPORT
                  : absl::StrContains(op, "DPort")                                ? TGD_FIELD_DPORT
                  : op == "Family"                                                ? TGD_FIELD_FAMILY
                  : op == "Protocol"                                              ? TGD_FIELD_PROTOCOL
                                                                                  : TGD_FIELD_STATE;
    if (absl::EndsWith(op, "Priv")) {  // privileged ports: 0-1023
      (*c)->has_range = 1;
      (*c)->value = 0;
      (*c)->value2 = 1023;
      return absl::OkStatus();
    }
    return AddSetOrRange(m, **c, TGD_TAG(0, sel_idx, TGD_TAG_INT, sel.n_int - 1), false, out);
  }
  if (op == "SAddr" || op == "NotSAddr" || op == "DAddr" || op == "NotDAddr") {
    if (!IsNet(d.type)) return bad("not a sock, socket or skb");
    if (sel.n_str >= TGD_MAX_STR_CLAUSES) return too_many("string or address", TGD_MAX_STR_CLAUSES);
    int idx = sel.n_str++;
    sel.strs[idx] = {static_cast<uint8_t>(absl::StartsWith(op, "Not") ? TGD_OP_NOT_PREFIX : TGD_OP_PREFIX),
                     static_cast<uint8_t>(pos),
                     static_cast<uint8_t>(absl::StrContains(op, "SAddr") ? TGD_FIELD_SADDR : TGD_FIELD_DADDR), 0};
    uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_STR, idx);
    for (size_t j = 0; j < m.values.size(); ++j) {
      absl::Status s = AddCidr(out, tag, m.values[j], absl::StrCat(m.path, ".values[", j, "]"));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (op == "SubString" || op == "SubStringIgnCase") {
    if (!IsStringLike(d.type)) return bad("not a string, path or buffer");
    if (sel.n_str >= TGD_MAX_STR_CLAUSES) return too_many("string", TGD_MAX_STR_CLAUSES);
    int idx = sel.n_str++;
    const bool nocase = op == "SubStringIgnCase";
    sel.strs[idx] = {static_cast<uint8_t>(nocase ? TGD_OP_SUBSTRING_NOCASE : TGD_OP_SUBSTRING),
                     static_cast<uint8_t>(pos), TGD_FIELD_VALUE, 0};
    uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_STR, idx);
    for (size_t j = 0; j < m.values.size(); ++j) {
      std::string v = nocase ? absl::AsciiStrToLower(m.values[j]) : m.values[j];
      absl::Status s = AddStringValue(out, TGD_OP_PREFIX, tag, v, absl::StrCat(m.path, ".values[", j, "]"));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (op == "CapabilitiesGained") return CompileCapabilitiesGained(m, sel_idx, out);
  if (is_plain) return std::nullopt;
  return bad("not supported on this type");
}

absl::Status CompileCapabilitiesGained(const policy::MatchArg& m, int sel_idx, CompiledHook* out) {
  if (m.args.size() != 2) {
    return Invalid(m.path + ".args", "CapabilitiesGained needs two args: the positions of the old and the new capability set");
  }
  auto is_cap_set = [&](uint32_t pos) {
    return pos < out->args.size() && out->cfg.args[pos].type == TGD_ARG_CAP_SET;
  };
  for (size_t i = 0; i < 2; ++i) {
    if (!is_cap_set(m.args[i])) {
      return Invalid(absl::StrCat(m.path, ".args[", i, "]"),
                     absl::StrCat("position ", m.args[i], " is not an argument of a capability type (kernel_cap_t, "
                                  "cap_inheritable, cap_permitted, cap_effective)"));
    }
  }
  tgd_selector& sel = out->cfg.sel[sel_idx];
  if (sel.n_int >= TGD_MAX_INT_CLAUSES) {
    return Unimplemented(m.path, absl::StrCat("more than ", TGD_MAX_INT_CLAUSES, " integer matchArgs per selector"));
  }
  tgd_int_clause& c = sel.ints[sel.n_int++];
  c.op = TGD_OP_CAPS_GAINED;
  c.arg = static_cast<uint8_t>(m.args[0]);
  c.field = TGD_FIELD_VALUE;
  c.value = m.args[1];
  return absl::OkStatus();
}

absl::Status AddStringValue(CompiledHook* out, uint8_t op, uint32_t tag, const std::string& value,
                            const std::string& path) {
  if (value.size() >= TGD_STR_MAX) {
    return Invalid(path, absl::StrCat("value of ", value.size(), " bytes is longer than the ", TGD_STR_MAX - 1,
                                      " bytes the dispatch loader matches"));
  }
  if (op == TGD_OP_EQ || op == TGD_OP_NEQ) {
    tgd_str_key k{};
    k.tag = tag;
    memcpy(k.s, value.data(), value.size());
    out->strs.push_back(k);
  } else {
    tgd_lpm_key k{};
    k.tag = tag;
    k.prefixlen = 64 + 8 * value.size();
    bool rev = op == TGD_OP_POSTFIX || op == TGD_OP_NOT_POSTFIX;
    for (size_t i = 0; i < value.size(); ++i) k.s[i] = rev ? value[value.size() - 1 - i] : value[i];
    (rev ? out->postfixes : out->prefixes).push_back(k);
  }
  return absl::OkStatus();
}

}  // namespace tgd
