// Daemon: `tgdispatch serve` wired together: the policy manager and its
// loader, the event bus, the gRPC server, signal handling and shutdown.
// Libraries take this config struct; flags live only in main.cc.
#ifndef TGDISPATCH_SENSOR_DAEMON_DAEMON_H_
#define TGDISPATCH_SENSOR_DAEMON_DAEMON_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/policymgr/policy_manager.h"
#include "sensor/process/process_cache.h"
#include "sensor/process/process_sensor.h"
#include "sensor/server/fgs_service.h"

namespace tgd {

struct DaemonConfig {
  std::string server_address = "localhost:54322";  // host:port or unix:///path
  bool allow_remote = false;  // allow a non-loopback TCP address
  std::string bpf_dir = "/sys/fs/bpf/tgdispatch";
  std::string policy_dir;     // *.yaml loaded at start
  std::string node_name;      // default: hostname
  std::string loader = "dispatch";  // dispatch | per-policy
  bool process_events = true;       // run the base process sensor (process_exec/exit)
  size_t process_cache_size = 65536;
  // Features of later milestones; setting one is refused, not ignored.
  std::string export_file, workloads_file, tetragon_bpf_dir, metrics_address;
};

// Checks a gRPC listen address. Errors: INVALID_ARGUMENT naming
// --server-address (malformed, or non-loopback TCP without allow_remote).
absl::Status CheckServerAddress(const std::string& address, bool allow_remote);

class Daemon {
 public:
  // Validates the config, prepares the bpffs state dir, loads --policy-dir
  // and starts serving. Errors: INVALID_ARGUMENT (config), FAILED_PRECONDITION
  // (bpffs), UNAVAILABLE (cannot listen).
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const DaemonConfig& config);
  ~Daemon();

  // Blocks until SIGINT or SIGTERM (SIGHUP is logged: workload reload comes
  // with the workload registry), then shuts down cleanly.
  void RunUntilSignal();
  // Stops streams and the server, unloads every policy, removes the unix
  // socket and the (empty) state dir. Idempotent.
  void Shutdown();

  EventBus& bus() { return bus_; }
  PolicyManager& policies() { return *policies_; }

 private:
  explicit Daemon(DaemonConfig config) : config_(std::move(config)) {}

  DaemonConfig config_;
  EventBus bus_;
  std::unique_ptr<ProcessCache> process_cache_;
  std::unique_ptr<ProcessSensor> process_sensor_;
  std::unique_ptr<PolicyBackend> backend_;
  std::unique_ptr<PolicyManager> policies_;
  std::unique_ptr<FgsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string unix_socket_path_;
  bool created_bpf_dir_ = false;
  bool shut_down_ = false;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_DAEMON_DAEMON_H_
