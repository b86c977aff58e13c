// GetUrl and DnsLookup (see user_actions.h).
#include "sensor/actions/user_actions.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {
namespace {

int RemainingMs(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
}

// Resolves host:port (TCP) before the deadline. A name goes through
// getaddrinfo_a so that a slow resolver cannot hold the worker past it.
bool Cancelled(int cancel_fd) {
  if (cancel_fd < 0) return false;
  struct pollfd p = {cancel_fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

absl::StatusOr<std::vector<char>> Resolve(const std::string& host, const std::string& port, absl::Time deadline,
                                          socklen_t* len, int cancel_fd) {
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::vector<char> out;
  auto take = [&](const struct addrinfo* ai) {
    out.assign(reinterpret_cast<const char*>(ai->ai_addr), reinterpret_cast<const char*>(ai->ai_addr) + ai->ai_addrlen);
    *len = ai->ai_addrlen;
  };
  // Literal addresses: no resolver involved.
  hints.ai_flags = AI_NUMERICHOST;
  struct addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) == 0 && res) {
    take(res);
    freeaddrinfo(res);
    return out;
  }
  hints.ai_flags = 0;
  // Owned by the request while it runs: leaked (small) when it cannot be
  // cancelled at the deadline, since the resolver thread still uses it.
  struct Req {
    std::string host, port;
    struct addrinfo hints;
    struct gaicb cb;
  };
  auto* r = new Req{host, port, hints, {}};
  r->cb.ar_name = r->host.c_str();
  r->cb.ar_service = r->port.c_str();
  r->cb.ar_request = &r->hints;
  struct gaicb* list[1] = {&r->cb};
  if (getaddrinfo_a(GAI_NOWAIT, list, 1, nullptr) != 0) {
    delete r;
    return absl::UnavailableError(absl::StrCat("resolving ", host, ": getaddrinfo_a failed"));
  }
  for (;;) {
    const int ms = std::min(RemainingMs(deadline), 50);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    gai_suspend(list, 1, &ts);
    if (gai_error(&r->cb) != EAI_INPROGRESS) break;
    const bool cancelled = Cancelled(cancel_fd);
    if (cancelled || RemainingMs(deadline) == 0) {
      if (gai_cancel(&r->cb) == EAI_NOTCANCELED) {
        (void)r;  // still used by the resolver: left to it
      } else {
        delete r;
      }
      if (cancelled) return absl::CancelledError(absl::StrCat("resolving ", host, ": stopping"));
      return absl::DeadlineExceededError(absl::StrCat("resolving ", host, ": timed out"));
    }
  }
  int err = gai_error(&r->cb);
  absl::Status st;
  if (err != 0 || r->cb.ar_result == nullptr) {
    st = absl::UnavailableError(absl::StrCat("resolving ", host, ": ", gai_strerror(err)));
  } else {
    take(r->cb.ar_result);
    freeaddrinfo(r->cb.ar_result);
  }
  delete r;
  if (!st.ok()) return st;
  return out;
}

// Waits for `events` on fd until the deadline.
absl::Status WaitFd(int fd, short events, absl::Time deadline, const std::string& what, int cancel_fd) {
  for (;;) {
    struct pollfd p[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
    int ms = RemainingMs(deadline);
    if (ms == 0) return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
    int n = poll(p, cancel_fd >= 0 ? 2 : 1, ms);
    if (n > 0 && cancel_fd >= 0 && p[1].revents) return absl::CancelledError(absl::StrCat(what, ": stopping"));
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
  }
}

}  // namespace

absl::Status HttpGet(const std::string& url, absl::Duration timeout, int cancel_fd) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://")) return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" is not an http:// URL"));
  std::string authority(rest.substr(0, rest.find('/')));
  std::string path = rest.find('/') == absl::string_view::npos ? "/" : std::string(rest.substr(rest.find('/')));
  if (authority.empty()) return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" has no host"));
  std::string host = authority, port = "80";
  if (authority.front() == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("\"", url, "\": bad IPv6 host"));
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
  } else if (size_t c = authority.rfind(':'); c != std::string::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  socklen_t alen = 0;
  absl::StatusOr<std::vector<char>> addr = Resolve(host, port, deadline, &alen, cancel_fd);
  if (!addr.ok()) return addr.status();
  const auto* sa = reinterpret_cast<const struct sockaddr*>(addr->data());
  FileDescriptor fd(socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
  if (connect(fd.get(), sa, alen) != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("connecting to ", authority, ": ", strerror(errno)));
  }
  if (absl::Status s = WaitFd(fd.get(), POLLOUT, deadline, "connecting to " + authority, cancel_fd); !s.ok()) return s;
  int soerr = 0;
  socklen_t sl = sizeof(soerr);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &sl);
  if (soerr != 0) return absl::UnavailableError(absl::StrCat("connecting to ", authority, ": ", strerror(soerr)));
  const std::string req = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", authority,
                                       "\r\nUser-Agent: tgdispatch\r\nAccept: */*\r\nConnection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = send(fd.get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return absl::UnavailableError(absl::StrCat("sending: ", strerror(errno)));
    if (absl::Status s = WaitFd(fd.get(), POLLOUT, deadline, "sending to " + authority, cancel_fd); !s.ok()) return s;
  }
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    if (absl::Status s = WaitFd(fd.get(), POLLIN, deadline, "reading from " + authority, cancel_fd); !s.ok()) return s;
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("reading: ", strerror(errno)));
    }
    head.append(buf, n);
  }
  if (!absl::StartsWith(head, "HTTP/")) return absl::UnavailableError(absl::StrCat(authority, ": no HTTP status line"));
  return absl::OkStatus();
}

absl::Status DnsLookupA(const std::string& fqdn, const std::string& server, absl::Duration timeout,
                        int cancel_fd) {
  const absl::Time deadline = absl::Now() + timeout;
  std::pair<std::string, std::string> hp = absl::StrSplit(server, absl::MaxSplits(':', 1));
  struct sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  uint32_t port = 53;
  if ((!hp.second.empty() && (!absl::SimpleAtoi(hp.second, &port) || port == 0 || port > 65535)) ||
      inet_pton(AF_INET, hp.first.c_str(), &sin.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("DNS server \"", server, "\" is not IPv4:port"));
  }
  sin.sin_port = htons(static_cast<uint16_t>(port));
  // Header: id, RD, one question.
  uint16_t id = 0;
  if (getrandom(&id, sizeof(id), 0) != sizeof(id)) id = static_cast<uint16_t>(absl::ToUnixNanos(absl::Now()));
  std::string q = {static_cast<char>(id >> 8), static_cast<char>(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::string name(absl::StripSuffix(fqdn, "."));
  if (name.empty() || name.size() > 253) return absl::InvalidArgumentError(absl::StrCat("\"", fqdn, "\" is not a DNS name"));
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > 63) return absl::InvalidArgumentError(absl::StrCat("\"", fqdn, "\" is not a DNS name"));
    q.push_back(static_cast<char>(label.size()));
    q.append(label.data(), label.size());
  }
  q.append({0, 0, 1, 0, 1});  // root, QTYPE A, QCLASS IN
  FileDescriptor fd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
  if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&sin), sizeof(sin)) != 0 ||
      send(fd.get(), q.data(), q.size(), 0) != static_cast<ssize_t>(q.size())) {
    return absl::UnavailableError(absl::StrCat("sending to ", server, ": ", strerror(errno)));
  }
  char buf[1500];
  for (;;) {
    if (absl::Status s = WaitFd(fd.get(), POLLIN, deadline, "DNS query to " + server, cancel_fd); !s.ok()) return s;
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("DNS query to ", server, ": ", strerror(errno)));
    }
    if (n < 12) continue;
    const uint16_t rid = static_cast<uint16_t>((static_cast<uint8_t>(buf[0]) << 8) | static_cast<uint8_t>(buf[1]));
    if (rid != id || !(buf[2] & 0x80)) continue;  // not our answer
    const int rcode = buf[3] & 0x0f;
    if (rcode != 0) return absl::UnavailableError(absl::StrCat("DNS answer for ", fqdn, ": rcode ", rcode));
    return absl::OkStatus();
  }
}

// ---------------------------------------------------------------- runner

UserActionRunner::UserActionRunner(UserActionOptions options)
    : opts_(std::move(options)), cancel_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  for (int i = 0; i < std::max(opts_.workers, 1); ++i) workers_.emplace_back([this] { Work(); });
}

UserActionRunner::~UserActionRunner() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    stats_.dropped += queue_.size();
    queue_.clear();
  }
  if (cancel_.valid()) {
    uint64_t one = 1;
    (void)!write(cancel_.get(), &one, sizeof(one));
  }
  for (std::thread& t : workers_) t.join();
}

bool UserActionRunner::Submit(UserActionKind kind, std::string arg) {
  absl::MutexLock l(&mu_);
  if (stop_ || queue_.size() >= opts_.queue_capacity) {
    ++stats_.dropped;
    return false;
  }
  queue_.push_back({kind, std::move(arg)});
  return true;
}

UserActionStats UserActionRunner::Stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

bool UserActionRunner::WaitFinished(uint64_t n, absl::Duration limit) const {
  absl::MutexLock l(&mu_);
  auto finished = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stats_.done + stats_.failed >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&finished), limit);
}

void UserActionRunner::Work() {
  for (;;) {
    Request r;
    {
      absl::MutexLock l(&mu_);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      r = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status s = r.kind == UserActionKind::kGetUrl
                         ? HttpGet(r.arg, opts_.timeout, cancel_.get())
                         : DnsLookupA(r.arg, opts_.dns_server, opts_.timeout, cancel_.get());
    absl::MutexLock l(&mu_);
    ++(s.ok() ? stats_.done : stats_.failed);
  }
}

}  // namespace tgd
