// The user-space actions of Tetragon's policies: GetUrl (an HTTP GET of
// argUrl) and DnsLookup (an A query for argFqdn), fired and forgotten as
// Tetragon does (pkg/sensors/tracing: getUrl, dnsLookup), but off the event
// path: the ring buffer reader only enqueues (never blocks; a full queue
// drops and counts), a few workers do the requests, each bounded by a
// timeout.
#ifndef TGDISPATCH_SENSOR_ACTIONS_USER_ACTIONS_H_
#define TGDISPATCH_SENSOR_ACTIONS_USER_ACTIONS_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {

enum class UserActionKind { kGetUrl, kDnsLookup };

struct UserActionOptions {
  size_t queue_capacity = 256;  // requests waiting; more are dropped
  int workers = 2;
  absl::Duration timeout = absl::Seconds(5);  // per request, name resolution included
  // Where DnsLookup sends its query: Tetragon's fixed 1.1.1.1:53 (IPv4
  // literal and port).
  std::string dns_server = "1.1.1.1:53";
};

struct UserActionStats {
  uint64_t done = 0;     // completed (an HTTP status line / a DNS answer with rcode 0)
  uint64_t failed = 0;   // refused, timed out, bad answer
  uint64_t dropped = 0;  // not queued: the queue was full, or stopping
};

// An HTTP/1.1 GET of an http:// URL (host name resolved by the system's
// resolver, getaddrinfo_a, within the deadline). OK once a status line came
// back, whatever the status. Errors: INVALID_ARGUMENT (the URL),
// DEADLINE_EXCEEDED, UNAVAILABLE (resolution, connection, no status line).
// `cancel_fd` (optional): readable means give up now (CANCELLED).
absl::Status HttpGet(const std::string& url, absl::Duration timeout, int cancel_fd = -1);

// One A query for `fqdn` over UDP to `server` ("a.b.c.d:port"). OK when an
// answer with this query's id and rcode 0 came back. Errors:
// INVALID_ARGUMENT, DEADLINE_EXCEEDED, UNAVAILABLE.
absl::Status DnsLookupA(const std::string& fqdn, const std::string& server, absl::Duration timeout,
                        int cancel_fd = -1);

class UserActionRunner {
 public:
  explicit UserActionRunner(UserActionOptions options = {});
  // Stops the workers: queued requests are dropped, running ones are
  // cancelled (a name resolution within 50 ms).
  ~UserActionRunner();
  UserActionRunner(const UserActionRunner&) = delete;
  UserActionRunner& operator=(const UserActionRunner&) = delete;

  // Queues a request; never blocks. False (counted as dropped) when full.
  bool Submit(UserActionKind kind, std::string arg);
  UserActionStats Stats() const;
  // Tests: waits until `n` requests have finished (done or failed), at most
  // `limit`. Returns whether they had.
  bool WaitFinished(uint64_t n, absl::Duration limit) const;

 private:
  struct Request {
    UserActionKind kind;
    std::string arg;
  };
  void Work();

  const UserActionOptions opts_;
  FileDescriptor cancel_;  // eventfd, signalled by the destructor
  mutable absl::Mutex mu_;
  std::deque<Request> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  UserActionStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_ACTIONS_USER_ACTIONS_H_
