// MetricsServer implementation on civetweb's C API.
#include "sensor/metrics/http_server.h"

#include <civetweb.h>
#include <glog/logging.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "sensor/base/loopback.h"

namespace tgd::metrics {
namespace {

// Splits "host:port" / "[v6]:port" / ":port".
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  if (!absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), port) || *port < 0 ||
      *port > 65535) {
    return false;
  }
  absl::string_view h = absl::string_view(address).substr(0, colon);
  if (absl::ConsumePrefix(&h, "[") && !absl::ConsumeSuffix(&h, "]")) return false;
  *host = std::string(h);
  return true;
}

// civetweb's listening_ports spellings of `host` (resolved to numeric
// addresses; civetweb itself takes only literals) and `port`.
absl::StatusOr<std::vector<std::string>> ListenSpecs(const std::string& address,
                                                     const std::string& host, int port) {
  if (host.empty()) return std::vector<std::string>{absl::StrCat(port)};  // every IPv4 interface
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (gai != 0) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-address \"", address, "\": cannot resolve: ", gai_strerror(gai)));
  }
  std::vector<std::string> out;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    char buf[NI_MAXHOST];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST) != 0) {
      continue;
    }
    out.push_back(ai->ai_family == AF_INET6 ? absl::StrCat("[", buf, "]:", port)
                                            : absl::StrCat(buf, ":", port));
  }
  freeaddrinfo(res);
  if (out.empty()) {
    return absl::UnavailableError(absl::StrCat("--metrics-address \"", address, "\": no address"));
  }
  return out;
}

void SendText(mg_connection* conn, int code, const char* reason, absl::string_view body, bool head) {
  const char* version = mg_get_request_info(conn)->http_version;
  std::string resp = absl::StrCat("HTTP/", version ? version : "1.1", " ", code, " ", reason,
                                  "\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                                  "\r\nConnection: close\r\n\r\n");
  if (!head) resp.append(body.data(), body.size());
  mg_write(conn, resp.data(), resp.size());
}

}  // namespace

absl::Status CheckListenAddress(const std::string& address, bool allow_remote, const std::string& flag) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " \"", address, "\": want host:port"));
  }
  if (!allow_remote && !IsLoopbackHost(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " \"", address,
        "\": not a loopback address; metrics are unauthenticated, pass --allow-remote to expose them"));
  }
  return absl::OkStatus();
}

int MetricsServer::LogMessage(const mg_connection*, const char* message) {
  VLOG(1) << "metrics http: " << message;
  return 1;  // logged: civetweb writes nothing itself
}

int MetricsServer::HandleRequest(mg_connection* conn) {
  const mg_request_info* req = mg_get_request_info(conn);
  auto* self = static_cast<MetricsServer*>(req->user_data);
  const bool head = std::strcmp(req->request_method, "HEAD") == 0;
  if (!head && std::strcmp(req->request_method, "GET") != 0) {
    SendText(conn, 405, "Method Not Allowed", "only GET\n", false);
    return 1;
  }
  if (req->local_uri == nullptr || std::strcmp(req->local_uri, "/metrics") != 0) {
    SendText(conn, 404, "Not Found", "try /metrics\n", head);
    return 1;
  }
  std::string body = self->registry_->Render();
  mg_send_http_ok(conn, "text/plain; version=0.0.4; charset=utf-8", static_cast<long long>(body.size()));
  if (!head) mg_write(conn, body.data(), body.size());
  return 1;  // handled: civetweb serves no files and runs nothing else
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                     bool allow_remote,
                                                                     Registry* registry,
                                                                     MetricsServerOptions options) {
  absl::Status st = CheckListenAddress(address, allow_remote, "--metrics-address");
  if (!st.ok()) return st;
  std::string host;
  int port = 0;
  SplitHostPort(address, &host, &port);
  absl::StatusOr<std::vector<std::string>> specs = ListenSpecs(address, host, port);
  if (!specs.ok()) return specs.status();

  static std::once_flag init_once;
  std::call_once(init_once, [] { mg_init_library(0); });  // no TLS, nothing optional

  auto s = std::unique_ptr<MetricsServer>(new MetricsServer(registry));
  mg_callbacks callbacks{};
  callbacks.begin_request = &MetricsServer::HandleRequest;
  callbacks.log_message = &MetricsServer::LogMessage;
  const std::string threads = absl::StrCat(options.threads);
  const std::string timeout = absl::StrCat(options.request_timeout_ms);
  const std::string max_request = absl::StrCat(options.max_request_bytes);
  std::string last_error = "no address";
  for (const std::string& spec : *specs) {
    // No document_root: civetweb serves no files, runs no CGI, and every
    // request goes to HandleRequest.
    const char* config[] = {"listening_ports", spec.c_str(),
                            "num_threads", threads.c_str(),
                            // Accepted connections waiting for a worker.
                            "connection_queue", threads.c_str(),
                            "listen_backlog", threads.c_str(),
                            "request_timeout_ms", timeout.c_str(),
                            "linger_timeout_ms", "0",
                            "max_request_size", max_request.c_str(),
                            "enable_keep_alive", "no",
                            "enable_directory_listing", "no",
                            nullptr};
    mg_init_data init{&callbacks, s.get(), config};
    char error_text[256] = {0};
    unsigned error_code = 0;
    mg_error_data error{&error_code, error_text, sizeof(error_text)};
    s->ctx_ = mg_start2(&init, &error);
    if (s->ctx_ != nullptr) {
      // The numeric host it listens on ("" for every interface).
      size_t colon = spec.rfind(':');
      s->bound_host_ = colon == std::string::npos ? "" : spec.substr(0, colon);
      if (absl::StartsWith(s->bound_host_, "[")) s->bound_host_ = s->bound_host_.substr(1, s->bound_host_.size() - 2);
      break;
    }
    last_error = error_text[0] ? error_text : "cannot start the HTTP server";
  }
  if (s->ctx_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-address \"", address, "\": cannot listen: ", last_error));
  }
  mg_server_port ports[4] = {};
  int n = mg_get_server_ports(s->ctx_, 4, ports);
  if (n < 1) {
    return absl::UnavailableError(absl::StrCat("--metrics-address \"", address, "\": no bound port"));
  }
  s->port_ = ports[0].port;
  s->wake_host_ = s->bound_host_.empty() ? "127.0.0.1" : s->bound_host_;
  return s;
}

void MetricsServer::Stop() {
  if (ctx_ == nullptr) return;
  // civetweb's accept loop sees the stop request only when its poll returns
  // (up to ~2 s later): connections to the listener wake it at once.
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    while (!stopped.load()) {
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
      addrinfo* res = nullptr;
      if (getaddrinfo(wake_host_.c_str(), absl::StrCat(port_).c_str(), &hints, &res) == 0) {
        int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
          (void)connect(fd, res->ai_addr, res->ai_addrlen);
          close(fd);
        }
        freeaddrinfo(res);
      }
      for (int i = 0; i < 10 && !stopped.load(); ++i) usleep(5000);
    }
  });
  mg_stop(ctx_);  // closes the listener, joins every worker
  stopped = true;
  waker.join();
  ctx_ = nullptr;
}

MetricsServer::~MetricsServer() { Stop(); }

}  // namespace tgd::metrics
