// Argument rendering as Tetragon's (see arg_render.h): pkg/grpc/tracing's
// choice of KprobeArgument member per type, and the text forms of its
// readers (network, path, caps).
#include "sensor/loader/arg_render.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compat/policy/capabilities.h"

namespace tgd {
namespace {

const char* const kFamilyNames[] = {
    "AF_UNSPEC", "AF_UNIX", "AF_INET", "AF_AX25", "AF_IPX", "AF_APPLETALK", "AF_NETROM", "AF_BRIDGE",
    "AF_ATMPVC", "AF_X25", "AF_INET6", "AF_ROSE", "AF_DECnet", "AF_NETBEUI", "AF_SECURITY", "AF_KEY",
    "AF_NETLINK", "AF_PACKET", "AF_ASH", "AF_ECONET", "AF_ATMSVC", "AF_RDS", "AF_SNA", "AF_IRDA",
    "AF_PPPOX", "AF_WANPIPE", "AF_LLC", "AF_IB", "AF_MPLS", "AF_CAN", "AF_TIPC", "AF_BLUETOOTH",
    "AF_IUCV", "AF_RXRPC", "AF_ISDN", "AF_PHONET", "AF_IEEE802154", "AF_CAIF", "AF_ALG", "AF_NFC",
    "AF_VSOCK", "AF_KCM", "AF_QIPCRTR", "AF_SMC", "AF_XDP", "AF_MCTP"};

// Kprobe-style family: every known name, else the number (AF_SNA has no
// name in Tetragon's table).
std::string InetFamily(uint16_t f) {
  if (f < std::size(kFamilyNames) && f != 22) return kFamilyNames[f];
  return absl::StrCat(f);
}

// Tracepoint-style family: only these three, else "".
std::string FamilyString(uint16_t f) {
  switch (f) {
    case 2: return "AF_INET";
    case 10: return "AF_INET6";
    case 1: return "AF_UNIX";
  }
  return "";
}

std::string InetType(uint16_t t) {
  static const char* const kTypes[] = {"", "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM",
                                       "SOCK_SEQPACKET", "SOCK_DCCP", "SOCK_PACKET"};
  if (t >= 1 && t < std::size(kTypes)) return kTypes[t];
  return absl::StrCat(t);
}

std::string InetProtocol(uint16_t p) {
  static constexpr std::pair<int, const char*> kProtocols[] = {
      {0, "IPPROTO_IP"}, {1, "IPPROTO_ICMP"}, {2, "IPPROTO_IGMP"}, {4, "IPPROTO_IPIP"}, {6, "IPPROTO_TCP"},
      {8, "IPPROTO_EGP"}, {12, "IPPROTO_PUP"}, {17, "IPPROTO_UDP"}, {22, "IPPROTO_IDP"}, {29, "IPPROTO_TP"},
      {33, "IPPROTO_DCCP"}, {41, "IPPROTO_IPV6"}, {46, "IPPROTO_RSVP"}, {47, "IPPROTO_GRE"},
      {50, "IPPROTO_ESP"}, {51, "IPPROTO_AH"}, {92, "IPPROTO_MTP"}, {94, "IPPROTO_BEETPH"},
      {98, "IPPROTO_ENCAP"}, {103, "IPPROTO_PIM"}, {108, "IPPROTO_COMP"}, {132, "IPPROTO_SCTP"},
      {136, "IPPROTO_UDPLITE"}, {137, "IPPROTO_MPLS"}, {143, "IPPROTO_ETHERNET"}, {255, "IPPROTO_RAW"},
      {262, "IPPROTO_MPTCP"}};
  for (const auto& [n, name] : kProtocols) {
    if (n == p) return name;
  }
  return absl::StrCat(p);
}

std::string TcpState(uint8_t s) {
  static const char* const kStates[] = {"",           "TCP_ESTABLISHED", "TCP_SYN_SENT",   "TCP_SYN_RECV",
                                        "TCP_FIN_WAIT1", "TCP_FIN_WAIT2", "TCP_TIME_WAIT", "TCP_CLOSE",
                                        "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN",    "TCP_CLOSING",
                                        "TCP_NEW_SYN_RECV"};
  if (s >= 1 && s < std::size(kStates)) return kStates[s];
  return absl::StrCat(s);
}

std::string CapabilityName(int32_t v) {
  const char* name = v >= 0 && v <= policy::kLastCapability ? policy::CapabilityEnumName(v) : nullptr;
  return name ? name : "";
}

void AddCapabilities(uint64_t set, google::protobuf::RepeatedField<int>* out) {
  for (int i = 0; i < 64; ++i) {
    if (set & (1ULL << i)) out->Add(i);
  }
}

std::string PathString(const tgd_arg_val& v) {
  size_t n = strnlen(v.str, std::min<uint32_t>(v.len, TGD_STR_MAX));
  if (n == 0) return "/";  // no walk possible: Tetragon reports "/"
  return std::string(v.str, n);
}

std::string PathFlags(uint32_t flags) {
  return (flags & TGD_PATHF_UNRESOLVED) ? "unresolvedPathComponents" : "";
}

// One rwx triple with its special bit (s/S or t/T).
void PermTriple(uint16_t bits, bool special, char special_char, std::string* out) {
  out->push_back(bits & 4 ? 'r' : '-');
  out->push_back(bits & 2 ? 'w' : '-');
  if (special) {
    out->push_back(bits & 1 ? special_char : static_cast<char>(special_char - 'a' + 'A'));
  } else {
    out->push_back(bits & 1 ? 'x' : '-');
  }
}

void FillUserNs(const tgd_userns_val& u, tetragon::UserNamespace* ns) {
  ns->mutable_level()->set_value(u.level);
  ns->mutable_uid()->set_value(u.uid);
  ns->mutable_gid()->set_value(u.gid);
  ns->mutable_ns()->set_inum(u.inum);
  if (u.level == 0) ns->mutable_ns()->set_is_host(true);
}

std::string KobjName(const tgd_kobj_val& k, size_t max) {
  return std::string(k.name, strnlen(k.name, std::min<size_t>(max, TGD_KOBJ_NAME)));
}

std::string ProgType(uint32_t t) {
  static const char* const kTypes[] = {
      "UNSPEC", "SOCKET_FILTER", "KPROBE", "SCHED_CLS", "SCHED_ACT", "TRACEPOINT", "XDP", "PERF_EVENT",
      "CGROUP_SKB", "CGROUP_SOCK", "LWT_IN", "LWT_OUT", "LWT_XMIT", "SOCK_OPS", "SK_SKB", "CGROUP_DEVICE",
      "SK_MSG", "RAW_TRACEPOINT", "CGROUP_SOCK_ADDR", "LWT_SEG6LOCAL", "LIRC_MODE2", "SK_REUSEPORT",
      "FLOW_DISSECTOR", "CGROUP_SYSCTL", "RAW_TRACEPOINT_WRITABLE", "CGROUP_SOCKOPT", "TRACING", "STRUCT_OPS",
      "EXT", "LSM", "SK_LOOKUP", "SYSCALL"};
  if (t < std::size(kTypes)) return absl::StrCat("BPF_PROG_TYPE_", kTypes[t]);
  return absl::StrCat(t);
}

std::string MapType(uint32_t t) {
  static const char* const kTypes[] = {
      "UNSPEC", "HASH", "ARRAY", "PROG_ARRAY", "PERF_EVENT_ARRAY", "PERCPU_HASH", "PERCPU_ARRAY", "STACK_TRACE",
      "CGROUP_ARRAY", "LRU_HASH", "LRU_PERCPU_HASH", "LPM_TRIE", "ARRAY_OF_MAPS", "HASH_OF_MAPS", "DEVMAP",
      "SOCKMAP", "CPUMAP", "XSKMAP", "SOCKHASH", "CGROUP_STORAGE", "REUSEPORT_SOCKARRAY",
      "PERCPU_CGROUP_STORAGE", "QUEUE", "STACK", "SK_STORAGE", "DEVMAP_HASH", "STRUCT_OPS", "RINGBUF",
      "INODE_STORAGE", "TASK_STORAGE", "BLOOM_FILTER"};
  if (t < std::size(kTypes)) return absl::StrCat("BPF_MAP_TYPE_", kTypes[t]);
  return absl::StrCat(t);
}

std::string PerfEventType(uint32_t t) {
  static const char* const kTypes[] = {"HARDWARE", "SOFTWARE", "TRACEPOINT", "HW_CACHE", "RAW", "BREAKPOINT", "MAX"};
  if (t < std::size(kTypes)) return absl::StrCat("PERF_TYPE_", kTypes[t]);
  return absl::StrCat(t);
}

}  // namespace

std::string FilePermissionString(uint16_t mode) {
  std::string s;
  switch (mode & 0170000) {
    case 0060000: s = "b"; break;
    case 0020000: s = "c"; break;
    case 0040000: s = "d"; break;
    case 0010000: s = "p"; break;
    case 0120000: s = "l"; break;
    case 0100000: s = "-"; break;
    case 0140000: s = "s"; break;
  }
  PermTriple((mode >> 6) & 7, mode & 04000, 's', &s);
  PermTriple((mode >> 3) & 7, mode & 02000, 's', &s);
  PermTriple(mode & 7, mode & 01000, 't', &s);
  return s;
}

std::string NetAddressString(uint16_t family, const uint8_t addr[16]) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == 2) {
    inet_ntop(AF_INET, addr, buf, sizeof(buf));
  } else if (family == 10) {
    inet_ntop(AF_INET6, addr, buf, sizeof(buf));
  } else {
    return "invalid IP";  // Go's String() of a zero netip.Addr
  }
  return buf;
}

bool RenderArg(const CompiledArg& a, const tgd_arg_val& v, int hook_kind, tetragon::KprobeArgument* out,
               const BufferData* data) {
  const bool tracepoint = hook_kind == TGD_HOOK_TRACEPOINT || hook_kind == TGD_HOOK_RAW_TP;
  // Tetragon's tracepoint events (raw ones included) carry no labels.
  if (!a.label.empty() && !tracepoint) out->set_label(a.label);
  switch (a.render) {
    case ArgRender::kInt: out->set_int_arg(static_cast<int32_t>(v.s64)); break;
    case ArgRender::kUint: out->set_uint_arg(static_cast<uint32_t>(v.u64)); break;
    case ArgRender::kLong: out->set_long_arg(v.s64); break;
    case ArgRender::kSize: out->set_size_arg(v.u64); break;
    case ArgRender::kString:
      out->set_string_arg(std::string(v.str, strnlen(v.str, std::min<uint32_t>(v.len, TGD_STR_MAX))));
      break;
    case ArgRender::kFile: {
      tetragon::KprobeFile* f = out->mutable_file_arg();
      f->set_path(PathString(v));
      f->set_flags(PathFlags(v.flags));
      f->set_permission(FilePermissionString(v.mode));
      break;
    }
    case ArgRender::kPath: {
      tetragon::KprobePath* p = out->mutable_path_arg();
      p->set_path(PathString(v));
      p->set_flags(PathFlags(v.flags));
      p->set_permission(FilePermissionString(v.mode));
      break;
    }
    case ArgRender::kLinuxBinprm: {
      tetragon::KprobeLinuxBinprm* b = out->mutable_linux_binprm_arg();
      b->set_path(PathString(v));
      b->set_flags(PathFlags(v.flags));
      b->set_permission(FilePermissionString(v.mode));
      break;
    }
    case ArgRender::kSock: {
      const tgd_net_val& n = v.net;
      tetragon::KprobeSock* s = out->mutable_sock_arg();
      s->set_family(tracepoint ? FamilyString(n.family) : InetFamily(n.family));
      s->set_type(InetType(n.type));
      s->set_protocol(InetProtocol(n.protocol));
      s->set_mark(n.mark);
      s->set_priority(n.priority);
      s->set_saddr(NetAddressString(n.family, n.saddr));
      s->set_daddr(NetAddressString(n.family, n.daddr));
      s->set_sport(n.sport);
      s->set_dport(n.dport);
      s->set_cookie(n.cookie);
      s->set_state(TcpState(n.state));
      break;
    }
    case ArgRender::kSockaddr: {
      // Tetragon sets no label on a sockaddr argument.
      out->clear_label();
      const tgd_net_val& n = v.net;
      tetragon::KprobeSockaddr* s = out->mutable_sockaddr_arg();
      s->set_family(tracepoint ? FamilyString(n.family) : InetFamily(n.family));
      s->set_addr(NetAddressString(n.family, n.saddr));
      s->set_port(n.sport);
      break;
    }
    case ArgRender::kBpfAttr:
    case ArgRender::kBpfProg: {
      const tgd_kobj_val& k = v.kobj;
      tetragon::KprobeBpfAttr attr;
      attr.set_progtype(ProgType(k.type));
      attr.set_insncnt(k.count);
      attr.set_progname(KobjName(k, 16));
      if (a.render == ArgRender::kBpfAttr) {
        *out->mutable_bpf_attr_arg() = std::move(attr);
      } else {
        tetragon::KprobeBpfProg* p = out->mutable_bpf_prog_arg();
        p->set_progtype(attr.progtype());
        p->set_insncnt(attr.insncnt());
        p->set_progname(attr.progname());
      }
      break;
    }
    case ArgRender::kBpfMap: {
      const tgd_kobj_val& k = v.kobj;
      tetragon::KprobeBpfMap* m = out->mutable_bpf_map_arg();
      m->set_maptype(MapType(k.type));
      m->set_keysize(k.key_size);
      m->set_valuesize(k.value_size);
      m->set_maxentries(k.max_entries);
      m->set_mapname(KobjName(k, 16));
      break;
    }
    case ArgRender::kPerfEvent: {
      const tgd_kobj_val& k = v.kobj;
      tetragon::KprobePerfEvent* p = out->mutable_perf_event_arg();
      p->set_kprobefunc(KobjName(k, TGD_KOBJ_NAME));
      p->set_type(PerfEventType(k.type));
      p->set_config(k.config);
      p->set_probeoffset(k.probe_offset);
      break;
    }
    case ArgRender::kModule:
    case ArgRender::kLoadInfo: {
      const tgd_kobj_val& k = v.kobj;
      tetragon::KernelModule* m = out->mutable_module_arg();
      m->set_name(KobjName(k, 56));
      if (a.render == ArgRender::kLoadInfo && k.sig_ok != 2) m->mutable_signature_ok()->set_value(k.sig_ok != 0);
      static constexpr uint64_t kTaints[] = {1, 2, 4, 1024, 4096, 8192, 32768, 262144};
      for (uint64_t t : kTaints) {
        if (k.taints & t) m->add_tainted(static_cast<tetragon::TaintedBitsType>(t));
      }
      break;
    }
    case ArgRender::kSockaddrUn: {
      out->clear_label();  // as sockaddr: Tetragon sets none
      tetragon::KprobeSockaddrUn* u = out->mutable_sockaddrun_arg();
      u->set_family(FamilyString(v.mode));
      u->set_path(std::string(v.str, strnlen(v.str, std::min<uint32_t>(v.len, TGD_STR_MAX))));
      break;
    }
    case ArgRender::kSkb: {
      const tgd_net_val& n = v.net;
      tetragon::KprobeSkb* s = out->mutable_skb_arg();
      s->set_hash(n.hash);
      s->set_len(n.len);
      s->set_priority(n.priority);
      s->set_mark(n.mark);
      s->set_saddr(NetAddressString(n.family, n.saddr));
      s->set_daddr(NetAddressString(n.family, n.daddr));
      s->set_sport(n.sport);
      s->set_dport(n.dport);
      s->set_proto(n.protocol);
      s->set_protocol(InetProtocol(n.protocol));
      s->set_sec_path_len(n.secpath_len);
      s->set_sec_path_olen(n.secpath_olen);
      s->set_family(tracepoint ? FamilyString(n.family) : InetFamily(n.family));
      break;
    }
    case ArgRender::kCred: {
      const tgd_cred_val& c = v.cred;
      tetragon::ProcessCredentials* p = out->mutable_process_credentials_arg();
      p->mutable_uid()->set_value(c.uid);
      p->mutable_gid()->set_value(c.gid);
      p->mutable_euid()->set_value(c.euid);
      p->mutable_egid()->set_value(c.egid);
      p->mutable_suid()->set_value(c.suid);
      p->mutable_sgid()->set_value(c.sgid);
      p->mutable_fsuid()->set_value(c.fsuid);
      p->mutable_fsgid()->set_value(c.fsgid);
      for (int i = 0; i < 8; ++i) {
        if (c.securebits & (1u << i)) p->add_securebits(static_cast<tetragon::SecureBitsType>(1u << i));
      }
      tetragon::Capabilities* caps = p->mutable_caps();
      AddCapabilities(c.cap_permitted, caps->mutable_permitted());
      AddCapabilities(c.cap_effective, caps->mutable_effective());
      AddCapabilities(c.cap_inheritable, caps->mutable_inheritable());
      FillUserNs(c.userns, p->mutable_user_ns());
      break;
    }
    case ArgRender::kUserNs:
      FillUserNs(v.userns, out->mutable_user_ns_arg());
      break;
    case ArgRender::kCapability: {
      tetragon::KprobeCapability* c = out->mutable_capability_arg();
      c->mutable_value()->set_value(static_cast<int32_t>(v.s64));
      c->set_name(CapabilityName(static_cast<int32_t>(v.s64)));
      break;
    }
    case ArgRender::kBpfCmd:
      out->set_bpf_cmd_arg(static_cast<tetragon::BpfCmd>(static_cast<int32_t>(v.s64)));
      break;
    case ArgRender::kKernelCapT: out->set_kernel_cap_t_arg(absl::StrFormat("%016x", v.u64)); break;
    case ArgRender::kCapInheritable: out->set_cap_inheritable_arg(absl::StrFormat("%016x", v.u64)); break;
    case ArgRender::kCapPermitted: out->set_cap_permitted_arg(absl::StrFormat("%016x", v.u64)); break;
    case ArgRender::kCapEffective: out->set_cap_effective_arg(absl::StrFormat("%016x", v.u64)); break;
    case ArgRender::kBytes: {
      // As Tetragon's ReadArgBytes: a read error renders as its name; a
      // data event it cannot complete leaves the argument out; bytes beyond
      // what was read make a truncated_bytes_arg with the original size
      // (kprobes, uprobes, LSM: tracepoint events carry plain bytes).
      const uint16_t err = v.mode;
      const BufferData::Kind kind = data ? data->kind : BufferData::kInline;
      if (kind == BufferData::kLost) return false;
      if (err == TGD_BUFERR_PAGEFAULT || kind == BufferData::kPageFault) {
        out->set_bytes_arg("CharBufErrorPageFault");
        break;
      }
      if (err == TGD_BUFERR_TOOLARGE) {
        out->set_bytes_arg("CharBufErrorBufTooLarge");
        break;
      }
      std::string bytes = kind == BufferData::kComplete ? data->bytes
                                                        : std::string(v.str, std::min<uint32_t>(v.len, TGD_STR_MAX));
      if (v.flags > bytes.size() && !tracepoint) {
        tetragon::KprobeTruncatedBytes* t = out->mutable_truncated_bytes_arg();
        t->set_orig_size(v.flags);
        t->set_bytes_arg(std::move(bytes));
      } else {
        out->set_bytes_arg(std::move(bytes));
      }
      break;
    }
    case ArgRender::kNop:
      return false;
    case ArgRender::kSyscall64: {
      // Tetragon renders it on tracepoints only (bit 31: the 32-bit ABI).
      if (!tracepoint) return false;
      const bool abi32 = v.u64 & 0x80000000ULL;
      tetragon::SyscallId* id = out->mutable_syscall_id();
      id->set_id(static_cast<uint32_t>(v.u64 & ~0x80000000ULL));
#if defined(__x86_64__)
      id->set_abi(abi32 ? "i386" : "x64");
#elif defined(__aarch64__)
      id->set_abi(abi32 ? "arm32" : "arm64");
#else
      id->set_abi("unknown");
#endif
      break;
    }
  }
  return true;
}

}  // namespace tgd
