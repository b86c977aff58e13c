// MetricsServer: the HTTP endpoint for Prometheus scrapes, on Debian's
// civetweb (libcivetweb-dev). GET (or HEAD) /metrics answers the registry in
// the text format 0.0.4; any other path is 404, any other method 405.
// Connections are served by a bounded pool of worker threads, each request
// must arrive whole within a deadline (slow or stalled clients are dropped),
// and every connection is closed after its response.
#ifndef TGDISPATCH_SENSOR_METRICS_HTTP_SERVER_H_
#define TGDISPATCH_SENSOR_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sensor/metrics/registry.h"

struct mg_context;
struct mg_connection;

namespace tgd::metrics {

// Checks a metrics listen address "host:port" (port may be 0 for "any").
// Hosts that are not literal loopback addresses (IsLoopbackHost: localhost,
// 127.0.0.0/8, ::1) need allow_remote; an empty host (":2113") means every
// interface. Errors: INVALID_ARGUMENT naming `flag`.
absl::Status CheckListenAddress(const std::string& address, bool allow_remote, const std::string& flag);

struct MetricsServerOptions {
  // Worker threads, each serving one connection at a time: that many
  // clients can be connected at once, however slowly they talk, before a
  // scrape has to wait for a worker (at most request_timeout_ms).
  int threads = 256;
  // A request's headers must arrive whole within this time of the connection
  // (not per read: a client trickling one byte at a time is cut off too).
  int request_timeout_ms = 10000;
  // Largest request accepted (headers); larger ones are refused.
  int max_request_bytes = 8192;
};

class MetricsServer {
 public:
  // Listens on `address` and serves `registry` (which must outlive the
  // server). Errors: INVALID_ARGUMENT (address, see CheckListenAddress),
  // UNAVAILABLE (cannot resolve / bind / listen).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              bool allow_remote, Registry* registry,
                                                              MetricsServerOptions options = {});
  ~MetricsServer();  // Stop()
  // Stops listening, waits for the requests in progress. Idempotent.
  void Stop();
  // The bound port (useful with port 0).
  int port() const { return port_; }

 private:
  explicit MetricsServer(Registry* registry) : registry_(registry) {}
  static int HandleRequest(mg_connection* conn);
  static int LogMessage(const mg_connection* conn, const char* message);

  Registry* registry_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::string bound_host_;  // numeric listen host, "" = every interface
  std::string wake_host_;   // where Stop() connects to wake the accept loop
};

}  // namespace tgd::metrics

#endif  // TGDISPATCH_SENSOR_METRICS_HTTP_SERVER_H_
