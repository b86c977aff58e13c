// PeerAuthorizer: who may call which RPC of the API. Read-only RPCs are open
// to every caller that can connect; every other RPC (policy changes,
// RuntimeHook, SetDebug, GetEvents: events carry every process's command
// line) needs a caller that is root (or the daemon's own user), or a member of the --server-group
// group, or that presented a client certificate the server verified (mTLS).
// The caller is whom the kernel says: SO_PEERCRED for the unix socket, the
// owner of the client's TCP socket (sock_diag) for a loopback TCP client.
#ifndef TGDISPATCH_SENSOR_SERVER_PEER_AUTH_H_
#define TGDISPATCH_SENSOR_SERVER_PEER_AUTH_H_

#include <grpcpp/server_context.h>
#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tgd {

// Whether tetragon.FineGuidanceSensors/<rpc> only reads state any local
// user may see (GetHealth, GetVersion, GetInfo, ListTracingPolicies,
// ListSensors). Every other name, unknown ones included, is privileged.
bool IsOpenRpc(absl::string_view rpc);

struct PeerAuthOptions {
  // --server-group: members may call privileged RPCs too; empty: root only.
  std::string group;
  // --server-tls-require-client-cert: a client certificate the TLS
  // handshake verified against --server-tls-client-ca-files authorizes.
  bool trust_client_certs = false;
};

// Who is calling.
struct PeerIdentity {
  uid_t uid = static_cast<uid_t>(-1);
  std::optional<gid_t> gid;  // the unix peer's gid (SO_PEERCRED)
  std::string via;           // "unix socket", "TCP 127.0.0.1:5000"
};

class PeerAuthorizer {
 public:
  // Errors: INVALID_ARGUMENT naming --server-group (no such group).
  static absl::StatusOr<std::unique_ptr<PeerAuthorizer>> Create(const PeerAuthOptions& options);

  // The --server-group's gid, when one was named.
  std::optional<gid_t> group_gid() const { return gid_; }
  const std::string& group_name() const { return opts_.group; }

  // A unix connection the API server accepted and is handing to gRPC, which
  // will name its peer "fd:<fd>": remembers its SO_PEERCRED. Errors: the
  // errno of getsockopt/fstat (the caller then closes the connection).
  absl::Status AddUnixPeer(int fd);
  // The port of the TCP listener (0 until known: TCP callers are refused).
  void SetTcpPort(int port) { tcp_port_ = port; }

  // Who is behind gRPC's peer string ("fd:N" from AddUnixPeer, "ipv4:...",
  // "ipv6:..."). Errors: PERMISSION_DENIED saying why it is unknown.
  absl::StatusOr<PeerIdentity> Identify(absl::string_view peer) const;
  // Whether this identity may call privileged RPCs: root, the daemon's own
  // user, or a member of the group (the peer's gid, or the user database).
  bool Privileged(const PeerIdentity& id) const;

  // OK, or PERMISSION_DENIED naming the RPC and what it needs.
  grpc::Status Authorize(const grpc::ServerContext& ctx, absl::string_view rpc) const;

 private:
  explicit PeerAuthorizer(PeerAuthOptions options) : opts_(std::move(options)) {}
  std::string Requirement() const;

  struct UnixPeer {
    ino_t ino;  // the socket's inode, checked again at each call
    uid_t uid;
    gid_t gid;
  };

  PeerAuthOptions opts_;
  std::optional<gid_t> gid_;
  std::atomic<int> tcp_port_{0};
  mutable std::mutex mu_;
  std::unordered_map<int, UnixPeer> unix_peers_;  // fd -> credentials at accept
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_SERVER_PEER_AUTH_H_
