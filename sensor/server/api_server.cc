// ApiServer implementation.
#include "sensor/server/api_server.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_posix.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tgd {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in.is_open()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " \"", path, "\": cannot open: ", strerror(errno)));
  }
  std::stringstream s;
  s << in.rdbuf();
  if (s.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " \"", path, "\": not a PEM file"));
  }
  return s.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(const ApiTlsOptions& tls) {
  absl::StatusOr<std::string> cert = ReadPem(tls.cert_file, "--server-tls-cert-file");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(tls.key_file, "--server-tls-key-file");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions o(tls.require_client_cert
                                          ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                          : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  o.pem_key_cert_pairs.push_back({*key, *cert});
  for (const std::string& ca : tls.client_ca_files) {
    absl::StatusOr<std::string> pem = ReadPem(ca, "--server-tls-client-ca-files");
    if (!pem.ok()) return pem.status();
    absl::StrAppend(&o.pem_root_certs, *pem, "\n");
  }
  return grpc::SslServerCredentials(o);
}

}  // namespace

absl::Status ValidateApiTls(const ApiTlsOptions& tls, const std::string& address) {
  const bool cert = !tls.cert_file.empty(), key = !tls.key_file.empty();
  if (cert != key) {
    return absl::InvalidArgumentError("--server-tls-cert-file and --server-tls-key-file must be set together");
  }
  if (tls.require_client_cert) {
    if (!cert) {
      return absl::InvalidArgumentError(
          "--server-tls-require-client-cert requires --server-tls-cert-file and --server-tls-key-file");
    }
    if (tls.client_ca_files.empty()) {
      return absl::InvalidArgumentError(
          "--server-tls-require-client-cert requires at least one --server-tls-client-ca-files entry");
    }
  }
  if (!tls.require_client_cert && !tls.client_ca_files.empty()) {
    return absl::InvalidArgumentError(
        "--server-tls-client-ca-files only takes effect when --server-tls-require-client-cert is true");
  }
  if (cert && absl::StartsWith(address, "unix://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--server-tls-cert-file requires --server-address to point at a TCP address (got \"", address,
        "\"); TLS does not apply to the unix-domain listener"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(const ApiServerOptions& options,
                                                            grpc::Service* service, PeerAuthorizer* auth) {
  absl::Status st = ValidateApiTls(options.tls, options.address);
  if (!st.ok()) return st;
  auto s = std::unique_ptr<ApiServer>(new ApiServer());
  absl::string_view path = options.address;
  grpc::ServerBuilder builder;
  builder.RegisterService(service);
  if (absl::ConsumePrefix(&path, "unix://")) {
    // gRPC's own unix listener would hide the peer's fd (its peer string
    // names no one), so this process accepts and hands the fds over.
    std::optional<gid_t> gid = auth->group_gid();
    auto l = UnixListener::Create(std::string(path), gid ? 0660 : 0600, gid);
    if (!l.ok()) {
      return absl::Status(l.status().code(), absl::StrCat("--server-address: ", l.status().message()));
    }
    s->unix_ = *std::move(l);
    s->server_ = builder.BuildAndStart();
    if (s->server_ == nullptr) return absl::UnavailableError("gRPC server did not start");
    s->unix_->StartAccepting([auth, server = s->server_.get(), p = s->unix_->path()](int fd) {
      if (absl::Status a = auth->AddUnixPeer(fd); !a.ok()) {
        LOG(WARNING) << p << ": connection dropped: " << a;
        close(fd);
        return;
      }
      grpc::AddInsecureChannelFromFd(server, fd);  // owns fd from here
    });
    return s;
  }
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (options.tls.enabled()) {
    auto tls = TlsCredentials(options.tls);
    if (!tls.ok()) return tls.status();
    creds = *tls;
  }
  builder.AddListeningPort(options.address, creds, &s->tcp_port_);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->tcp_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("--server-address \"", options.address, "\": cannot listen there"));
  }
  auth->SetTcpPort(s->tcp_port_);
  if (!options.tls.enabled()) {
    LOG(INFO) << "gRPC API on " << options.address << " without TLS (--server-tls-cert-file to enable it)";
  }
  return s;
}

void ApiServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (unix_) unix_->Stop();  // no fd is handed to a server shutting down
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + grace);
  unix_.reset();  // removes the socket if it still is ours
}

ApiServer::~ApiServer() { Shutdown(); }

}  // namespace tgd
