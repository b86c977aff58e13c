// ApiServer: the gRPC server of the API on --server-address, with who may
// connect settled at the transport: a unix socket this process creates (mode
// 0600, or 0660 with the --server-group group) whose connections are
// accepted here, their SO_PEERCRED recorded in the PeerAuthorizer and then
// handed to gRPC; or a TCP listener gRPC owns, plaintext or TLS/mTLS with
// Tetragon's --server-tls-* flags.
#ifndef TGDISPATCH_SENSOR_SERVER_API_SERVER_H_
#define TGDISPATCH_SENSOR_SERVER_API_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sensor/server/peer_auth.h"
#include "sensor/server/unix_listener.h"

namespace tgd {

// Tetragon's --server-tls-* flags.
struct ApiTlsOptions {
  std::string cert_file;                 // --server-tls-cert-file (PEM); set: TLS on
  std::string key_file;                  // --server-tls-key-file (PEM)
  std::vector<std::string> client_ca_files;  // --server-tls-client-ca-files
  bool require_client_cert = false;      // --server-tls-require-client-cert (mTLS)
  bool enabled() const { return !cert_file.empty(); }
};

struct ApiServerOptions {
  std::string address;  // host:port or unix:///path
  ApiTlsOptions tls;
};

// The flag combinations Tetragon refuses: cert and key only together,
// --server-tls-require-client-cert needs the cert, the key and a client CA,
// client CAs need --server-tls-require-client-cert, TLS needs a TCP
// address. Errors: INVALID_ARGUMENT naming the flags.
absl::Status ValidateApiTls(const ApiTlsOptions& tls, const std::string& address);

class ApiServer {
 public:
  // Serves `service` (which must outlive the server) at options.address.
  // `auth` (which must outlive it too) learns the unix peers and the TCP
  // port; its group gets the unix socket. Errors: INVALID_ARGUMENT (TLS
  // flags, unreadable TLS files, naming the flag), ALREADY_EXISTS (a file
  // or a live socket at the unix path), UNAVAILABLE (cannot listen).
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(const ApiServerOptions& options,
                                                          grpc::Service* service, PeerAuthorizer* auth);
  ~ApiServer();  // Shutdown()

  // Stops accepting, shuts the server down (calls get up to `grace`) and
  // removes the unix socket if it is still the one this created. Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

  grpc::Server* server() { return server_.get(); }
  int tcp_port() const { return tcp_port_; }  // 0 for a unix socket

 private:
  ApiServer() = default;

  std::unique_ptr<UnixListener> unix_;
  std::unique_ptr<grpc::Server> server_;
  int tcp_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_SERVER_API_SERVER_H_
