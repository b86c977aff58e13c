// MetricsServer: a tiny HTTP/1.1 server for Prometheus scrapes. GET (or
// HEAD) /metrics answers the registry in the text format 0.0.4; any other
// path is 404, any other method 405. One connection at a time, closed after
// each response (scrapes are rare and small); slow clients time out.
#ifndef TGDISPATCH_SENSOR_METRICS_HTTP_SERVER_H_
#define TGDISPATCH_SENSOR_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/metrics/registry.h"

namespace tgd::metrics {

// Checks a metrics listen address "host:port" (port may be 0 for "any").
// Hosts that are not literal loopback addresses (IsLoopbackHost: localhost,
// 127.0.0.0/8, ::1) need allow_remote; an empty host (":2113") means every
// interface. Errors: INVALID_ARGUMENT naming `flag`.
absl::Status CheckListenAddress(const std::string& address, bool allow_remote, const std::string& flag);

class MetricsServer {
 public:
  // Listens on `address` and serves `registry` (which must outlive the
  // server) from a thread of its own. Errors: INVALID_ARGUMENT (address,
  // see CheckListenAddress), UNAVAILABLE (cannot resolve / bind / listen).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              bool allow_remote, Registry* registry);
  ~MetricsServer();  // Stop()
  void Stop();
  // The bound port (useful with port 0).
  int port() const { return port_; }

 private:
  MetricsServer(Registry* registry) : registry_(registry) {}
  void Run();
  void Serve(int fd);

  Registry* registry_;
  FileDescriptor listen_fd_;
  FileDescriptor wake_fd_;  // eventfd: Stop() wakes the accept loop
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tgd::metrics

#endif  // TGDISPATCH_SENSOR_METRICS_HTTP_SERVER_H_
