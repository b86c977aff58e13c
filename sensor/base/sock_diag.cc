// TcpSocketOwner and ParseGrpcInetPeer implementation.
#include "sensor/base/sock_diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {
namespace {

// States of a connected socket that has an owner (a full socket).
constexpr uint32_t kOwnedStates = (1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT) | (1u << TCP_FIN_WAIT1) |
                                  (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE) | (1u << TCP_CLOSE_WAIT) |
                                  (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING);

struct DiagRequest {
  nlmsghdr nlh;
  inet_diag_req_v2 req;
  nlattr bc_attr;
  // "local port == A && remote port == B", run by the kernel on each socket
  // so that the dump holds only candidates (see inet_diag_bc_run).
  inet_diag_bc_op bc[4];
};

// Adds the uids of the matching sockets of one family to `uids`. With
// `exact_remote`, one hash lookup of the full 4-tuple (local, remote address
// *exact_remote, remote_port); else a dump of every TCP socket filtered by
// the two ports in the kernel (it walks the whole table: milliseconds).
absl::Status Collect(int family, const in6_addr& addr, uint16_t local_port, uint16_t remote_port,
                     const in6_addr* exact_remote, std::set<uid_t>* uids) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return ErrnoStatus(errno, "socket(NETLINK_SOCK_DIAG)");
  FileDescriptor owner(fd);
  DiagRequest r;
  memset(&r, 0, sizeof(r));
  r.nlh.nlmsg_len = sizeof(r);
  r.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  r.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  r.req.sdiag_family = static_cast<uint8_t>(family);
  r.req.sdiag_protocol = IPPROTO_TCP;
  r.req.idiag_states = kOwnedStates;
  if (exact_remote != nullptr) {
    r.nlh.nlmsg_len = offsetof(DiagRequest, bc_attr);
    r.nlh.nlmsg_flags = NLM_F_REQUEST;
    r.req.id.idiag_sport = htons(local_port);
    r.req.id.idiag_dport = htons(remote_port);
    memcpy(r.req.id.idiag_src, &addr, family == AF_INET ? 4 : 16);
    memcpy(r.req.id.idiag_dst, exact_remote, family == AF_INET ? 4 : 16);
    r.req.id.idiag_cookie[0] = r.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  }
  r.bc_attr.nla_len = sizeof(r.bc_attr) + sizeof(r.bc);
  r.bc_attr.nla_type = INET_DIAG_REQ_BYTECODE;
  // A failed comparison jumps 4 bytes past the end: rejected.
  r.bc[0] = {INET_DIAG_BC_S_EQ, 8, 16 + 4};
  r.bc[1] = {0, 0, local_port};
  r.bc[2] = {INET_DIAG_BC_D_EQ, 8, 8 + 4};
  r.bc[3] = {0, 0, remote_port};
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &r, r.nlh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    return ErrnoStatus(errno, "sock_diag request");
  }
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "sock_diag reply");
    }
    if (n == 0) return absl::OkStatus();
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return absl::OkStatus();
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0 || (exact_remote != nullptr && e->error == -ENOENT)) return absl::OkStatus();
        return ErrnoStatus(-e->error, "sock_diag");
      }
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(m->id.idiag_sport) != local_port || ntohs(m->id.idiag_dport) != remote_port) continue;
      size_t addr_len = family == AF_INET ? 4 : 16;
      if (memcmp(m->id.idiag_src, &addr, addr_len) != 0) continue;
      // A listener (an exact lookup falls back to one) is not the client.
      if (m->idiag_state == TCP_LISTEN || !(kOwnedStates & (1u << m->idiag_state))) continue;
      if (m->idiag_inode == 0) continue;  // no socket behind it (orphaned)
      uids->insert(m->idiag_uid);
    }
    // An exact lookup answers with one message (or an error), no NLMSG_DONE.
    if (exact_remote != nullptr) return absl::OkStatus();
  }
}

}  // namespace

absl::StatusOr<InetEndpoint> ParseGrpcInetPeer(absl::string_view peer) {
  std::string p = absl::StrReplaceAll(peer, {{"%5B", "["}, {"%5D", "]"}, {"%5b", "["}, {"%5d", "]"}});
  absl::string_view rest = p;
  int family = AF_UNSPEC;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    family = AF_INET;
  } else if (absl::ConsumePrefix(&rest, "ipv6:")) {
    family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("peer \"", peer, "\": not a TCP peer"));
  }
  size_t colon = rest.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("peer \"", peer, "\": no port"));
  }
  absl::string_view host = rest.substr(0, colon);
  InetEndpoint e;
  e.port = static_cast<uint16_t>(port);
  if (family == AF_INET6) {
    if (!absl::ConsumePrefix(&host, "[") || !absl::ConsumeSuffix(&host, "]")) {
      return absl::InvalidArgumentError(absl::StrCat("peer \"", peer, "\": want [address]:port"));
    }
    size_t zone = host.find('%');  // a link-local zone: not part of the address
    if (zone != absl::string_view::npos) host = host.substr(0, zone);
  }
  const std::string h(host);
  if (family == AF_INET) {
    if (inet_pton(AF_INET, h.c_str(), &e.addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("peer \"", peer, "\": bad IPv4 address"));
    }
    e.family = AF_INET;
    return e;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, h.c_str(), &a6) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("peer \"", peer, "\": bad IPv6 address"));
  }
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    e.family = AF_INET;
    memcpy(&e.addr, &a6.s6_addr[12], 4);
  } else {
    e.family = AF_INET6;
    e.addr = a6;
  }
  return e;
}

namespace {

bool IsLoopback(const InetEndpoint& e) {
  if (e.family == AF_INET) {
    uint32_t a;
    memcpy(&a, &e.addr, 4);
    return (ntohl(a) >> 24) == 127;
  }
  return IN6_IS_ADDR_LOOPBACK(&e.addr);
}

// Adds the uids of `local`'s sockets, as IPv4 and as IPv4-mapped IPv6 for
// an IPv4 address.
absl::Status CollectBothForms(const InetEndpoint& local, uint16_t remote_port, bool exact, std::set<uid_t>* uids) {
  if (local.family == AF_INET6) {
    return Collect(AF_INET6, local.addr, local.port, remote_port, exact ? &local.addr : nullptr, uids);
  }
  absl::Status st = Collect(AF_INET, local.addr, local.port, remote_port, exact ? &local.addr : nullptr, uids);
  if (!st.ok() || (exact && !uids->empty())) return st;
  in6_addr mapped{};
  mapped.s6_addr[10] = 0xff;
  mapped.s6_addr[11] = 0xff;
  memcpy(&mapped.s6_addr[12], &local.addr, 4);
  return Collect(AF_INET6, mapped, local.port, remote_port, exact ? &mapped : nullptr, uids);
}

}  // namespace

absl::StatusOr<uid_t> TcpSocketOwner(const InetEndpoint& local, uint16_t remote_port) {
  if (local.family != AF_INET && local.family != AF_INET6) {
    return absl::InvalidArgumentError("TcpSocketOwner: not an IPv4 or IPv6 endpoint");
  }
  std::set<uid_t> uids;
  // A local client of a server on this host usually connects from the
  // address it connects to (127.0.0.1 -> 127.0.0.1, a host address to
  // itself): one hash lookup finds it.
  absl::Status st = CollectBothForms(local, remote_port, /*exact=*/true, &uids);
  if (!st.ok()) return st;
  // Another loopback pair (127.0.0.2 -> 127.0.0.1): the filtered dump. Not
  // for other addresses: a remote peer would make every call walk the table.
  if (uids.empty() && IsLoopback(local)) {
    st = CollectBothForms(local, remote_port, /*exact=*/false, &uids);
    if (!st.ok()) return st;
  }
  if (uids.empty()) {
    return absl::NotFoundError(absl::StrCat("no TCP socket on this host has local port ", local.port,
                                            " and remote port ", remote_port));
  }
  if (uids.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat("TCP sockets of ", uids.size(),
                                                      " different users have local port ", local.port,
                                                      " and remote port ", remote_port));
  }
  return *uids.begin();
}

}  // namespace tgd
