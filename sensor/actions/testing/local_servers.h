// Tests only: a local HTTP server and a local DNS resolver stub on
// 127.0.0.1 (ephemeral ports) that record what they were asked, for the
// GetUrl / DnsLookup tests (no network access beyond this host).
#ifndef TGDISPATCH_SENSOR_ACTIONS_TESTING_LOCAL_SERVERS_H_
#define TGDISPATCH_SENSOR_ACTIONS_TESTING_LOCAL_SERVERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sensor/base/file_descriptor.h"

namespace tgd::testing {

// Serves HTTP/1.1 "200 OK" to every request (or, `silent`, accepts and
// never answers); records each request line ("GET /path HTTP/1.1").
class LocalHttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<LocalHttpServer>> Start(bool silent = false);
  ~LocalHttpServer();
  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const;
  std::vector<std::string> Requests() const;
  bool WaitRequests(size_t n, absl::Duration limit) const;

 private:
  LocalHttpServer() = default;
  void Serve();
  FileDescriptor listen_, stop_r_, stop_w_;
  uint16_t port_ = 0;
  bool silent_ = false;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

// Answers A queries with 127.0.0.1 (names starting with "nx." get NXDOMAIN);
// records each queried name.
class LocalDnsServer {
 public:
  static absl::StatusOr<std::unique_ptr<LocalDnsServer>> Start();
  ~LocalDnsServer();
  std::string address() const;  // "127.0.0.1:PORT"
  std::vector<std::string> Names() const;
  bool WaitNames(size_t n, absl::Duration limit) const;

 private:
  LocalDnsServer() = default;
  void Serve();
  FileDescriptor sock_, stop_r_, stop_w_;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<std::string> names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_ACTIONS_TESTING_LOCAL_SERVERS_H_
