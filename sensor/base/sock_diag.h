// TcpSocketOwner: who owns a TCP socket on this host, asked of the kernel
// through NETLINK_SOCK_DIAG (inet_diag). The API server uses it to learn the
// user behind a loopback TCP client from the address:port gRPC reports.
#ifndef TGDISPATCH_SENSOR_BASE_SOCK_DIAG_H_
#define TGDISPATCH_SENSOR_BASE_SOCK_DIAG_H_

#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tgd {

// An IPv4 or IPv6 socket address (the v4 one is stored as such, never mapped).
struct InetEndpoint {
  int family = AF_UNSPEC;  // AF_INET or AF_INET6
  in6_addr addr{};         // AF_INET: the first 4 bytes hold the address
  uint16_t port = 0;       // host byte order
};

// Parses gRPC's peer string of a TCP connection: "ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000" (also URI-escaped, "ipv6:%5B::1%5D:5000"). An IPv4-mapped
// IPv6 address becomes its IPv4 form. Errors: INVALID_ARGUMENT.
absl::StatusOr<InetEndpoint> ParseGrpcInetPeer(absl::string_view peer);

// The uid owning the TCP socket in this network namespace whose local end is
// `local` and whose remote port is `remote_port` (the client's socket of a
// connection to our listener on remote_port). First one hash lookup of the
// connection local -> the same address:remote_port (how a client on this
// host usually connects); for a loopback `local` that is not found, a dump
// filtered by both ports in the kernel. An IPv4 `local` is also looked for
// as an IPv4-mapped address among IPv6 sockets. Listening, TIME_WAIT and
// SYN_RECV entries (which have no owner) are ignored. Errors: NOT_FOUND (no
// such socket here: a remote peer, or gone), FAILED_PRECONDITION (sockets of
// different owners match), or the errno of the netlink exchange.
absl::StatusOr<uid_t> TcpSocketOwner(const InetEndpoint& local, uint16_t remote_port);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BASE_SOCK_DIAG_H_
