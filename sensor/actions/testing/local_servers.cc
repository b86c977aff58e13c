// Local HTTP and DNS servers for tests (see local_servers.h).
#include "sensor/actions/testing/local_servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tgd::testing {
namespace {

absl::StatusOr<uint16_t> BindLoopback(int fd) {
  struct sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sin), sizeof(sin)) != 0) {
    return absl::InternalError(absl::StrCat("bind: ", strerror(errno)));
  }
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&sin), &len);
  return ntohs(sin.sin_port);
}

absl::Status StopPipe(FileDescriptor* r, FileDescriptor* w) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  *r = FileDescriptor(p[0]);
  *w = FileDescriptor(p[1]);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalHttpServer>> LocalHttpServer::Start(bool silent) {
  std::unique_ptr<LocalHttpServer> s(new LocalHttpServer());
  s->silent_ = silent;
  s->listen_ = FileDescriptor(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s->listen_.valid()) return absl::InternalError("socket");
  absl::StatusOr<uint16_t> port = BindLoopback(s->listen_.get());
  if (!port.ok()) return port.status();
  s->port_ = *port;
  if (listen(s->listen_.get(), 16) != 0) return absl::InternalError("listen");
  if (absl::Status st = StopPipe(&s->stop_r_, &s->stop_w_); !st.ok()) return st;
  s->thread_ = std::thread([p = s.get()] { p->Serve(); });
  return s;
}

LocalHttpServer::~LocalHttpServer() {
  if (stop_w_.valid()) (void)!write(stop_w_.get(), "x", 1);
  if (thread_.joinable()) thread_.join();
}

std::string LocalHttpServer::url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

void LocalHttpServer::Serve() {
  std::vector<FileDescriptor> held;  // silent: connections kept open, unanswered
  for (;;) {
    struct pollfd p[2] = {{listen_.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;
    if (p[1].revents) return;
    FileDescriptor c(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c.valid()) continue;
    std::string req;
    char buf[1024];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
      struct pollfd q[2] = {{c.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
      if (poll(q, 2, 5000) <= 0 || q[1].revents) break;
      ssize_t n = recv(c.get(), buf, sizeof(buf), 0);
      if (n <= 0) break;
      req.append(buf, n);
    }
    {
      absl::MutexLock l(&mu_);
      requests_.push_back(req.substr(0, req.find("\r\n")));
    }
    if (silent_) {
      held.push_back(std::move(c));
      continue;
    }
    static const char kReply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    (void)!send(c.get(), kReply, sizeof(kReply) - 1, MSG_NOSIGNAL);
  }
}

std::vector<std::string> LocalHttpServer::Requests() const {
  absl::MutexLock l(&mu_);
  return requests_;
}

bool LocalHttpServer::WaitRequests(size_t n, absl::Duration limit) const {
  absl::MutexLock l(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), limit);
}

absl::StatusOr<std::unique_ptr<LocalDnsServer>> LocalDnsServer::Start() {
  std::unique_ptr<LocalDnsServer> s(new LocalDnsServer());
  s->sock_ = FileDescriptor(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s->sock_.valid()) return absl::InternalError("socket");
  absl::StatusOr<uint16_t> port = BindLoopback(s->sock_.get());
  if (!port.ok()) return port.status();
  s->port_ = *port;
  if (absl::Status st = StopPipe(&s->stop_r_, &s->stop_w_); !st.ok()) return st;
  s->thread_ = std::thread([p = s.get()] { p->Serve(); });
  return s;
}

LocalDnsServer::~LocalDnsServer() {
  if (stop_w_.valid()) (void)!write(stop_w_.get(), "x", 1);
  if (thread_.joinable()) thread_.join();
}

std::string LocalDnsServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

void LocalDnsServer::Serve() {
  for (;;) {
    struct pollfd p[2] = {{sock_.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;
    if (p[1].revents) return;
    unsigned char buf[512];
    struct sockaddr_in from;
    socklen_t flen = sizeof(from);
    ssize_t n = recvfrom(sock_.get(), buf, sizeof(buf), 0, reinterpret_cast<struct sockaddr*>(&from), &flen);
    if (n < 17) continue;
    std::string name;
    size_t i = 12;
    while (i < static_cast<size_t>(n) && buf[i] != 0) {
      size_t len = buf[i];
      if (i + 1 + len > static_cast<size_t>(n)) break;
      if (!name.empty()) name.push_back('.');
      name.append(reinterpret_cast<char*>(buf + i + 1), len);
      i += 1 + len;
    }
    const size_t qend = i + 5;  // root label, QTYPE, QCLASS
    if (qend > static_cast<size_t>(n)) continue;
    {
      absl::MutexLock l(&mu_);
      names_.push_back(name);
    }
    std::string reply(reinterpret_cast<char*>(buf), qend);
    const bool nx = name.rfind("nx.", 0) == 0;
    reply[2] = static_cast<char>(0x81);  // response, RD
    reply[3] = static_cast<char>(nx ? 0x83 : 0x80);  // RA, rcode
    reply[6] = 0;
    reply[7] = nx ? 0 : 1;  // answers
    if (!nx) {
      // Name pointer to the question, A, IN, TTL 60, 127.0.0.1.
      reply.append({static_cast<char>(0xc0), 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1});
    }
    sendto(sock_.get(), reply.data(), reply.size(), 0, reinterpret_cast<struct sockaddr*>(&from), flen);
  }
}

std::vector<std::string> LocalDnsServer::Names() const {
  absl::MutexLock l(&mu_);
  return names_;
}

bool LocalDnsServer::WaitNames(size_t n, absl::Duration limit) const {
  absl::MutexLock l(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return names_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), limit);
}

}  // namespace tgd::testing
