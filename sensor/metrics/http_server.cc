// MetricsServer implementation (plain sockets, poll, one thread).
#include "sensor/metrics/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/loopback.h"

namespace tgd::metrics {
namespace {

constexpr size_t kMaxRequest = 8192;

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

void SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void Respond(int fd, int code, const char* reason, absl::string_view content_type,
             absl::string_view body, bool head) {
  std::string resp = absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                                  "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n");
  if (!head) resp.append(body.data(), body.size());
  SendAll(fd, resp);
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

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                     bool allow_remote,
                                                                     Registry* registry) {
  absl::Status st = CheckListenAddress(address, allow_remote, "--metrics-address");
  if (!st.ok()) return st;
  std::string host;
  int port = 0;
  SplitHostPort(address, &host, &port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_str = absl::StrCat(port);
  int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_str.c_str(), &hints, &res);
  if (gai != 0) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-address \"", address, "\": cannot resolve: ", gai_strerror(gai)));
  }
  auto s = std::unique_ptr<MetricsServer>(new MetricsServer(registry));
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    FileDescriptor fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd.valid()) {
      last_error = strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd.get(), 16) != 0) {
      last_error = strerror(errno);
      continue;
    }
    s->listen_fd_ = std::move(fd);
    break;
  }
  freeaddrinfo(res);
  if (!s->listen_fd_.valid()) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-address \"", address, "\": cannot listen: ", last_error));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(s->listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  s->port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  s->wake_fd_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s->wake_fd_.valid()) return ErrnoStatus(errno, "eventfd");
  s->thread_ = std::thread([p = s.get()] { p->Run(); });
  return s;
}

void MetricsServer::Run() {
  while (!stop_.load()) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    FileDescriptor conn(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    Serve(conn.get());
  }
}

void MetricsServer::Serve(int fd) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string req;
  char buf[1024];
  while (req.find("\r\n\r\n") == std::string::npos && req.find("\n\n") == std::string::npos) {
    if (req.size() > kMaxRequest) {
      Respond(fd, 431, "Request Header Fields Too Large", "text/plain", "request too large\n", false);
      return;
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // closed or timed out
    req.append(buf, static_cast<size_t>(n));
  }
  absl::string_view line = absl::string_view(req).substr(0, req.find_first_of("\r\n"));
  std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
    Respond(fd, 400, "Bad Request", "text/plain", "bad request\n", false);
    return;
  }
  bool head = parts[0] == "HEAD";
  if (parts[0] != "GET" && !head) {
    Respond(fd, 405, "Method Not Allowed", "text/plain", "only GET\n", false);
    return;
  }
  absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (path != "/metrics") {
    Respond(fd, 404, "Not Found", "text/plain", "try /metrics\n", head);
    return;
  }
  Respond(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", registry_->Render(), head);
}

void MetricsServer::Stop() {
  stop_ = true;
  if (wake_fd_.valid()) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_.get(), &one, sizeof(one));
    (void)ignored;
  }
  if (thread_.joinable()) thread_.join();
  listen_fd_.Reset();  // refuse further connections
}

MetricsServer::~MetricsServer() { Stop(); }

}  // namespace tgd::metrics
