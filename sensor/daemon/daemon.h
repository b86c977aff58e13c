// Daemon: `tgdispatch serve` wired together: the policy manager and its
// loader, the event bus, the gRPC server, signal handling and shutdown.
// Libraries take this config struct; flags live only in main.cc.
#ifndef TGDISPATCH_SENSOR_DAEMON_DAEMON_H_
#define TGDISPATCH_SENSOR_DAEMON_DAEMON_H_

#include <grpcpp/server.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/export/json_exporter.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/metrics/http_server.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/workloads/workloads.h"
#include "sensor/metrics/registry.h"
#include "sensor/metrics/sensor_metrics.h"
#include "sensor/policymgr/policy_manager.h"
#include "sensor/process/event_cache.h"
#include "sensor/process/process_cache.h"
#include "sensor/process/process_sensor.h"
#include "sensor/server/api_server.h"
#include "sensor/server/fgs_service.h"
#include "sensor/server/peer_auth.h"
#include "sensor/statedir/policy_store.h"

namespace tgd {

struct DaemonConfig {
  std::string server_address = "localhost:54322";  // host:port or unix:///path
  bool allow_remote = false;  // allow a non-loopback TCP address
  // Members of this group may call the privileged RPCs too (root always
  // may); the unix socket is then 0660 with this group instead of 0600.
  std::string server_group;
  ApiTlsOptions server_tls;  // --server-tls-*: TLS / mTLS on a TCP address
  std::string bpf_dir = "/sys/fs/bpf/tgdispatch";
  std::string policy_dir;     // *.yaml loaded at start
  std::string node_name;      // default: hostname
  std::string node_labels;    // --node-labels "k=v,...": for nodeSelector ("": unknown)
  std::string loader = "dispatch";  // dispatch | per-policy
  bool process_events = true;       // run the base process sensor (process_exec/exit)
  size_t process_cache_size = 65536;
  // Tetragon's --process-cache-gc-interval: an exited process nothing
  // references any more is kept two intervals for late events.
  absl::Duration process_cache_gc_interval = absl::Seconds(30);
  // Tetragon's --event-cache-retries / --event-cache-retry-delay.
  int event_cache_retries = 15;
  absl::Duration event_cache_retry_delay = absl::Seconds(2);
  // Tetragon's --enable-ancestors (AncestorsConfig::Parse).
  std::string enable_ancestors;
  // Tetragon's --expose-stack-addresses: stack trace entries carry their address.
  bool expose_stack_addresses = false;
  // JSON export file (Tetragon's --export-filename family); empty disables.
  std::string export_file;
  uint64_t export_file_max_size_mb = 10;  // rotate past this; 0 = 100 MB (lumberjack)
  int export_file_max_backups = 5;        // rotated files kept; 0 = keep all
  std::string export_file_perm = "600";   // octal permissions of export files
  std::string export_allowlist, export_denylist;  // JSON tetragon.Filter objects
  // Prometheus metrics listen address (host:port); empty disables. The
  // binary's flag defaults to localhost:2113. Loopback only unless allow_remote.
  std::string metrics_address;
  // Workloads file (pods, labels, container cgroups); "demo" = the embedded
  // default (two demo pods with cgroups the daemon creates). Empty: none
  // (RuntimeHook then answers UNIMPLEMENTED).
  std::string workloads_file;
  // Open a Tetragon agent's pinned policy filter maps instead of our own.
  std::string tetragon_bpf_dir;
  // Policies added through the API are kept here (with their state and
  // mode) and come back at the next start; the running daemon holds
  // <state_dir>/daemon.lock.
  std::string state_dir = kDefaultStateDir;
  // Tetragon's --keep-sensors-on-exit, on by default here: on SIGTERM the
  // dispatch loader's pinned programs stay attached (enforcing) until the
  // next start replaces them. false: everything is detached and unpinned on
  // exit (the state dir stays; `tgdispatch cleanup` removes it).
  bool keep_sensors_on_exit = true;
};

// The exporter options a config asks for. Errors: INVALID_ARGUMENT naming
// --export-file-perm / --export-file-max-backups.
absl::StatusOr<JsonExporterOptions> ExportOptionsFromConfig(const DaemonConfig& config);

// Checks a gRPC listen address. Errors: INVALID_ARGUMENT naming
// --server-address (malformed, or non-loopback TCP without allow_remote).
absl::Status CheckServerAddress(const std::string& address, bool allow_remote);

// The checks that need no privilege and change nothing on the system: the
// addresses, --loader, the export options, --bpf-dir is an absolute path,
// --policy-dir and --tetragon-bpf-dir are directories, and the workloads file
// reads and parses (and a cgroup v2 mount exists for it). Daemon::Start runs
// them before it touches bpffs, so a bad config never unpins or replaces
// anything. Errors: INVALID_ARGUMENT or the file's errno (NOT_FOUND, ...),
// the message starting with the flag's name. Also the --server-tls-* flag
// combinations Tetragon refuses and that --server-group names a group.
absl::Status ValidateDaemonConfig(const DaemonConfig& config);

class Daemon {
 public:
  // Validates the config (ValidateDaemonConfig), then prepares the bpffs
  // state dir and starts serving; --policy-dir is loaded in the background
  // from then on (GetHealth's details say how far it got, ListTracingPolicies
  // lists what is loaded so far). Errors:
  // INVALID_ARGUMENT (config), FAILED_PRECONDITION (bpffs), UNAVAILABLE
  // (cannot listen).
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const DaemonConfig& config);
  ~Daemon();

  // Blocks until SIGINT or SIGTERM (SIGHUP is logged: workload reload comes
  // with the workload registry), then shuts down cleanly.
  void RunUntilSignal();
  // Stops streams and the server, unloads every policy, removes the unix
  // socket (only if it still is the one this process created) and the
  // (empty) state dir. Idempotent.
  void Shutdown();

  EventBus& bus() { return bus_; }
  PolicyManager& policies() { return *policies_; }
  // The tgdispatch_ metrics (datapath code adds its per-hook counts here).
  metrics::SensorMetrics& metrics() { return metrics_; }
  metrics::Registry& metrics_registry() { return registry_; }
  // The bound metrics port (0 when metrics are off).
  int metrics_port() const { return metrics_server_ ? metrics_server_->port() : 0; }

 private:
  explicit Daemon(DaemonConfig config) : config_(std::move(config)) {}
  void CollectMetrics();  // scrape-time values from the sensors and policies
  // Adds one --policy-dir file. One that fails is logged and listed in
  // TP_STATE_LOAD_ERROR: under its metadata.name when it parses, else under
  // the file name without its extension.
  void LoadPolicyFile(const std::filesystem::path& file);
  absl::Status StartDatapath();  // policy filter, workloads, the loader
  // Adds the policies kept in --state-dir in their recorded state and mode;
  // one that fails is listed in TP_STATE_LOAD_ERROR.
  void RestorePolicy(const PersistedPolicy& p);
  // Once this run's policies are loaded: detaches what earlier runs left
  // pinned (they enforced until now).
  void RetirePreviousRuns();

  DaemonConfig config_;
  EventBus bus_;
  metrics::Registry registry_;
  metrics::SensorMetrics metrics_{&registry_};
  std::unique_ptr<metrics::EventCounter> event_counter_;
  // Policy events lost over all hooks (their per-hook slots reset); only
  // CollectMetrics uses it, and collectors run one at a time.
  metrics::CounterTotal policy_events_lost_;
  // Per-hook counters stay monotonic when a hook's stats slot is zeroed and
  // reused (its last policy went and came back).
  metrics::KeyedCounterTotal hook_runs_, hook_tail_call_fails_, hook_rate_limited_, hook_truncated_;
  std::unique_ptr<JsonExporter> exporter_;
  std::unique_ptr<ProcessCache> process_cache_;
  EventCacheStats event_cache_stats_;
  std::unique_ptr<ProcessSensor> process_sensor_;
  // Whether the base process sensor is attached (read by ListSensors while
  // Shutdown may be detaching it).
  std::atomic<bool> process_sensor_running_{false};
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<WorkloadSource> workloads_;
  std::unique_ptr<StateDirLock> state_lock_;
  std::unique_ptr<PolicyStore> store_;
  std::unique_ptr<LinkPins> pins_;          // this run's pinned links (dispatch loader)
  std::vector<std::string> previous_runs_;  // earlier runs' pin dirs, retired once loaded
  std::unique_ptr<PolicyBackend> backend_;
  DispatchBackend* dispatch_ = nullptr;  // backend_ when it is the dispatch loader
  std::unique_ptr<PolicyManager> policies_;
  std::unique_ptr<PeerAuthorizer> auth_;
  std::unique_ptr<FgsService> service_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  // --policy-dir, loaded in the background after the API is up.
  std::thread policy_dir_loader_;
  std::atomic<bool> stop_loading_{false};
  size_t policy_files_total_ = 0;  // set before the API serves
  std::atomic<size_t> policy_files_done_{0};
  size_t restore_total_ = 0;  // --state-dir policies, loaded before --policy-dir
  std::atomic<size_t> restore_done_{0};
  std::atomic<bool> retiring_{false};
  bool created_bpf_dir_ = false;
  bool started_ = false;  // Start succeeded (the API serves)
  bool shut_down_ = false;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_DAEMON_DAEMON_H_
