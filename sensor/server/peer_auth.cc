// PeerAuthorizer implementation.
#include "sensor/server/peer_auth.h"

#include <glog/logging.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/sock_diag.h"

namespace tgd {
namespace {

constexpr std::array<absl::string_view, 6> kOpenRpcs = {"GetHealth", "GetVersion", "GetInfo", "ListDomains",
                                                        "ListTracingPolicies", "ListSensors"};

// Whether the user database makes `uid` a member of `gid` (primary group or
// listed in the group).
bool UserInGroup(uid_t uid, gid_t gid) {
  std::vector<char> buf(16384);
  passwd pw;
  passwd* found = nullptr;
  int err;
  while ((err = getpwuid_r(uid, &pw, buf.data(), buf.size(), &found)) == ERANGE && buf.size() < (1u << 24)) {
    buf.resize(buf.size() * 4);
  }
  if (err != 0 || found == nullptr) return false;
  if (pw.pw_gid == gid) return true;
  int n = 64;
  std::vector<gid_t> groups(n);
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(n);
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) return false;
  }
  for (int i = 0; i < n; ++i) {
    if (groups[i] == gid) return true;
  }
  return false;
}

}  // namespace

bool IsOpenRpc(absl::string_view rpc) {
  for (absl::string_view r : kOpenRpcs) {
    if (r == rpc) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<PeerAuthorizer>> PeerAuthorizer::Create(const PeerAuthOptions& options) {
  auto a = std::unique_ptr<PeerAuthorizer>(new PeerAuthorizer(options));
  if (!options.group.empty()) {
    std::vector<char> buf(16384);
    group gr;
    group* found = nullptr;
    int err;
    // Large groups need a larger buffer (ERANGE).
    while ((err = getgrnam_r(options.group.c_str(), &gr, buf.data(), buf.size(), &found)) == ERANGE &&
           buf.size() < (1u << 24)) {
      buf.resize(buf.size() * 4);
    }
    if (err != 0 || found == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--server-group \"", options.group,
                                                     "\": no such group", err ? absl::StrCat(" (", strerror(err), ")") : ""));
    }
    a->gid_ = gr.gr_gid;
  }
  return a;
}

absl::Status PeerAuthorizer::AddUnixPeer(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return ErrnoStatus(errno, "SO_PEERCRED");
  struct stat sb;
  if (fstat(fd, &sb) != 0) return ErrnoStatus(errno, "fstat of an API connection");
  std::lock_guard<std::mutex> l(mu_);
  unix_peers_[fd] = UnixPeer{sb.st_ino, cred.uid, cred.gid};
  return absl::OkStatus();
}

absl::StatusOr<PeerIdentity> PeerAuthorizer::Identify(absl::string_view peer) const {
  absl::string_view rest = peer;
  if (absl::ConsumePrefix(&rest, "fd:")) {
    int fd = -1;
    if (!absl::SimpleAtoi(rest, &fd)) {
      return absl::PermissionDeniedError(absl::StrCat("unknown peer \"", peer, "\""));
    }
    PeerIdentity id;
    id.via = "unix socket";
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = unix_peers_.find(fd);
      if (it == unix_peers_.end()) {
        return absl::PermissionDeniedError(absl::StrCat("peer \"", peer, "\" was not accepted by this server"));
      }
      // gRPC keeps the fd open while a call on it runs; the inode proves the
      // fd still is the connection that was checked at accept.
      struct stat sb;
      if (fstat(fd, &sb) != 0 || sb.st_ino != it->second.ino) {
        return absl::PermissionDeniedError(absl::StrCat("peer \"", peer, "\": connection changed"));
      }
      id.uid = it->second.uid;
      id.gid = it->second.gid;
    }
    return id;
  }
  absl::StatusOr<InetEndpoint> end = ParseGrpcInetPeer(peer);
  if (!end.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("cannot tell who the caller is: ", end.status().message()));
  }
  int port = tcp_port_.load();
  if (port <= 0) return absl::PermissionDeniedError("cannot tell who the caller is: no TCP listener");
  absl::StatusOr<uid_t> uid = TcpSocketOwner(*end, static_cast<uint16_t>(port));
  if (!uid.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("cannot tell who the caller at ", peer,
                                                    " is (the owner of a TCP client is known only on this host): ",
                                                    uid.status().message()));
  }
  PeerIdentity id;
  id.uid = *uid;
  id.via = absl::StrCat("TCP ", absl::StripPrefix(absl::StripPrefix(peer, "ipv4:"), "ipv6:"));
  return id;
}

bool PeerAuthorizer::Privileged(const PeerIdentity& id) const {
  // Root, or the user the daemon runs as (who holds its privileges anyway).
  if (id.uid == 0 || id.uid == geteuid()) return true;
  if (!gid_) return false;
  if (id.gid && *id.gid == *gid_) return true;
  return UserInGroup(id.uid, *gid_);
}

std::string PeerAuthorizer::Requirement() const {
  std::string r = "root";
  if (gid_) absl::StrAppend(&r, " or a member of group \"", opts_.group, "\" (--server-group)");
  if (opts_.trust_client_certs) absl::StrAppend(&r, " or a verified TLS client certificate");
  return r;
}

grpc::Status PeerAuthorizer::Authorize(const grpc::ServerContext& ctx, absl::string_view rpc) const {
  if (IsOpenRpc(rpc)) return grpc::Status::OK;
  if (opts_.trust_client_certs) {
    // With --server-tls-require-client-cert the handshake already refused
    // clients without a certificate signed by a --server-tls-client-ca-files
    // CA; the check stays here so that no other listener inherits it.
    std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
    if (auth && auth->IsPeerAuthenticated()) return grpc::Status::OK;
  }
  absl::StatusOr<PeerIdentity> id = Identify(ctx.peer());
  if (!id.ok()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat(rpc, ": permission denied: needs ", Requirement(), "; ", id.status().message()));
  }
  if (Privileged(*id)) return grpc::Status::OK;
  VLOG(1) << rpc << " refused to uid " << id->uid << " over " << id->via;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      absl::StrCat(rpc, ": permission denied: the caller (uid ", id->uid, ", ", id->via,
                                   ") is not ", Requirement()));
}

}  // namespace tgd
