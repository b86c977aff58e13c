// Daemon implementation.
#include "sensor/daemon/daemon.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/base/loopback.h"
#include "sensor/base/version.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/loader/features.h"
#include "sensor/loader/schema_refusals.h"
#include "sensor/loader/per_policy_backend.h"
#include "sensor/podinfo/pod_info.h"

namespace tgd {
namespace {

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

absl::Status CheckServerAddress(const std::string& address, bool allow_remote) {
  absl::string_view a = address;
  if (absl::ConsumePrefix(&a, "unix://")) {
    if (a.empty() || a[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("--server-address \"", address, "\": unix sockets need an absolute path (unix:///path)"));
    }
    return absl::OkStatus();
  }
  size_t colon = a.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(a.substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server-address \"", address, "\": want host:port or unix:///path"));
  }
  absl::string_view host = a.substr(0, colon);
  if (!allow_remote && !IsLoopbackHost(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--server-address \"", address,
        "\": not a loopback address; a remote caller's user is unknown (only --server-tls-require-client-cert "
        "authorizes one), pass --allow-remote to expose it"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDaemonConfig(const DaemonConfig& config) {
  absl::Status st = CheckServerAddress(config.server_address, config.allow_remote);
  if (!st.ok()) return st;
  if (st = ValidateApiTls(config.server_tls, config.server_address); !st.ok()) return st;
  if (!config.server_group.empty()) {
    if (auto a = PeerAuthorizer::Create({config.server_group}); !a.ok()) return a.status();
  }
  if (auto nl = ParseNodeLabels(config.node_labels); !nl.ok()) return nl.status();
  if (config.loader != "dispatch" && config.loader != "per-policy") {
    return absl::InvalidArgumentError(
        absl::StrCat("--loader \"", config.loader, "\": want dispatch or per-policy"));
  }
  if (!config.metrics_address.empty()) {
    st = metrics::CheckListenAddress(config.metrics_address, config.allow_remote, "--metrics-address");
    if (!st.ok()) return st;
  }
  if (!config.export_file.empty()) {
    auto opts = ExportOptionsFromConfig(config);
    if (!opts.ok()) return opts.status();
  }
  if (config.state_dir.empty() || config.state_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("--state-dir \"", config.state_dir, "\": want an absolute path"));
  }
  if (config.bpf_dir.empty() || config.bpf_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("--bpf-dir \"", config.bpf_dir, "\": want an absolute path under a bpffs mount"));
  }
  auto check_dir = [](const std::string& dir, const char* flag) -> absl::Status {
    std::error_code ec;
    if (dir.empty() || std::filesystem::is_directory(dir, ec)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " \"", dir, "\": ", ec ? ec.message() : "not a directory"));
  };
  if (st = check_dir(config.policy_dir, "--policy-dir"); !st.ok()) return st;
  if (st = check_dir(config.tetragon_bpf_dir, "--tetragon-bpf-dir"); !st.ok()) return st;
  if (!config.workloads_file.empty()) {
    if (config.workloads_file != "demo") {
      auto pods = ReadWorkloadsFile(config.workloads_file);
      if (!pods.ok()) {
        return absl::Status(pods.status().code(), absl::StrCat("--workloads: ", pods.status().message()));
      }
    }
    if (auto mount = FindCgroup2Mount(); !mount.ok()) {
      return absl::Status(mount.status().code(),
                          absl::StrCat("--workloads: no cgroup v2 mount: ", mount.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const DaemonConfig& config) {
  // Everything cheap first: nothing below runs for a config that is wrong.
  absl::Status st = ValidateDaemonConfig(config);
  if (!st.ok()) return st;
  JsonExporterOptions export_opts;
  if (!config.export_file.empty()) export_opts = *ExportOptionsFromConfig(config);
  // Map, program and link fds grow with policies (the per-policy loader
  // holds several per policy): allow as many as the hard limit does.
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) PLOG(WARNING) << "raising RLIMIT_NOFILE";
  }
  auto d = std::unique_ptr<Daemon>(new Daemon(config));
  if (d->config_.node_name.empty()) d->config_.node_name = Hostname();
  d->event_counter_ = metrics::EventCounter::Start(&d->bus_, d->metrics_.events_total);
  if (!config.export_file.empty()) {
    // Before the sensors start, so their first events are exported.
    auto exporter = JsonExporter::Start(&d->bus_, std::move(export_opts));
    if (!exporter.ok()) {
      absl::Status es = exporter.status();
      if (absl::StartsWith(es.message(), "--")) return es;
      return absl::Status(es.code(), absl::StrCat("--export-file: ", es.message()));
    }
    d->exporter_ = *std::move(exporter);
  }

  // One daemon per state dir: a second one would fight over the pins and
  // the recorded policies.
  auto lock = StateDirLock::Acquire(config.state_dir);
  if (!lock.ok()) return absl::Status(lock.status().code(), absl::StrCat("--state-dir: ", lock.status().message()));
  d->state_lock_ = *std::move(lock);
  auto store = PolicyStore::Open(config.state_dir);
  if (!store.ok()) return absl::Status(store.status().code(), absl::StrCat("--state-dir: ", store.status().message()));
  d->store_ = *std::move(store);

  bool existed = std::filesystem::exists(config.bpf_dir);
  st = EnsureBpffsDir(config.bpf_dir);
  if (!st.ok()) return absl::FailedPreconditionError(absl::StrCat("--bpf-dir: ", st.message()));
  d->created_bpf_dir_ = !existed;
  // What earlier runs left pinned keeps enforcing until this run has loaded
  // its policies (RetirePreviousRuns): no gap.
  d->previous_runs_ = ListGenerations(config.bpf_dir);
  if (!d->previous_runs_.empty()) {
    LOG(INFO) << d->previous_runs_.size() << " earlier run(s) left their programs pinned (enforcing) under "
              << config.bpf_dir << ": kept until this run's policies are loaded";
  }

  if (config.process_events) {
    d->process_cache_ = std::make_unique<ProcessCache>(d->config_.node_name, config.process_cache_size,
                                                       MonotonicToWallOffsetNs(),
                                                       2 * config.process_cache_gc_interval);
  }
  // What this kernel runs, asked by trial (the loader refuses the rest).
  const KernelFeatures& features = KernelFeatures::Get();
  LOG(INFO) << "kernel features (probed by loading and attaching one program per hook kind):\n"
            << features.FormatTable();
  // The datapath (policy filter = workload registry) before the process
  // sensor: the sensor's pod enrichment reads the registry.
  st = d->StartDatapath();
  if (!st.ok()) return st;
  if (config.process_events) {
    ProcessSensorOptions popts;
    popts.bus = &d->bus_;
    popts.cache = d->process_cache_.get();
    popts.enrich = MakePodEnricher(d->filter_.get());
    popts.event_cache_stats = &d->event_cache_stats_;
    popts.ancestors = AncestorsConfig::Parse(config.enable_ancestors).base;
    if (d->filter_) {
      // Pod info is remembered per cgroup until the registry changes.
      popts.enrich_version = [f = d->filter_.get()] { return f->pod_version(); };
    }
    auto sensor = ProcessSensor::Start(std::move(popts));
    if (!sensor.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("base process sensor: ", sensor.status().message(),
                       " (needs root/CAP_BPF; --process-events=false runs without it)"));
    }
    d->process_sensor_ = *std::move(sensor);
    d->process_sensor_running_ = true;
  }

  if (d->filter_ && d->filter_->tetragon_mode()) {
    // Our policies are in our own maps, but ListTracingPolicies' filter_id
    // and tetra's policyfilter tooling must never see one id for two
    // policies: ours come from a range far above the agent's counter.
    d->policies_ = std::make_unique<PolicyManager>(
        d->backend_.get(), FilterIdAllocator::BesideTetragon(
                               [f = d->filter_.get()](uint32_t id) { return f->PolicyIdInUse(id); }));
  } else {
    d->policies_ = std::make_unique<PolicyManager>(d->backend_.get());
  }
  d->policies_->set_persistence(d->store_.get());
  PolicyStore::Contents restored = d->store_->LoadAll();
  for (const auto& [path, why] : restored.errors) {
    LOG(ERROR) << "--state-dir: " << path << " not restored: " << why;
  }
  d->restore_total_ = restored.policies.size();

  // --policy-dir is listed now and loaded in the background once the API
  // serves: health and list answer at once however many policies there are.
  std::vector<std::filesystem::path> policy_files;
  if (!config.policy_dir.empty()) {
    std::error_code ec;
    std::filesystem::directory_iterator it(config.policy_dir, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("--policy-dir \"", config.policy_dir, "\": ", ec.message()));
    }
    for (const auto& entry : it) {
      if (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml") {
        policy_files.push_back(entry.path());
      }
    }
    std::sort(policy_files.begin(), policy_files.end());
  }
  d->policy_files_total_ = policy_files.size();

  FgsServiceOptions opts;
  if (d->workloads_) {
    opts.runtime_hook = [w = d->workloads_.get()](const tetragon::RuntimeHookRequest& r) {
      return w->HandleRuntimeHook(r);
    };
  }
  opts.policies = d->policies_.get();
  opts.bus = &d->bus_;
  opts.unavailable_hooks = features.Unavailable();
  if (config.process_events) {
    // Listed as Tetragon lists a sensor outside tracing policies: its name
    // as the collection, enabled while attached.
    opts.daemon_sensors = [p = d.get()] {
      tetragon::SensorStatus base;
      base.set_name(kProcessSensorName);
      base.set_enabled(p->process_sensor_running_.load());
      base.set_collection(kProcessSensorName);
      return std::vector<tetragon::SensorStatus>{std::move(base)};
    };
  }
  opts.startup_progress = [p = d.get()]() -> std::string {
    size_t restoring = p->restore_done_.load();
    if (restoring < p->restore_total_) {
      return absl::StrCat("restoring --state-dir: ", restoring, " of ", p->restore_total_, " policies");
    }
    size_t done = p->policy_files_done_.load();
    if (done < p->policy_files_total_) {
      return absl::StrCat("loading --policy-dir: ", done, " of ", p->policy_files_total_, " files");
    }
    // The previous run's programs enforced until this run's were loaded.
    if (p->retiring_.load()) return "detaching the previous run's programs";
    return "";
  };
  opts.info = {{"loader", config.loader},
               {"bpf-dir", config.bpf_dir},
               {"state-dir", config.state_dir},
               {"node-name", d->config_.node_name},
               {"server-address", config.server_address}};
  PeerAuthOptions auth_opts;
  auth_opts.group = config.server_group;
  auth_opts.trust_client_certs = config.server_tls.require_client_cert;
  auto auth = PeerAuthorizer::Create(auth_opts);
  if (!auth.ok()) return auth.status();
  d->auth_ = *std::move(auth);
  opts.authorize = [a = d->auth_.get()](const grpc::ServerContext& ctx, absl::string_view rpc) {
    return a->Authorize(ctx, rpc);
  };
  d->service_ = std::make_unique<FgsService>(std::move(opts));

  ApiServerOptions api_opts;
  api_opts.address = config.server_address;
  api_opts.tls = config.server_tls;
  auto api = ApiServer::Start(api_opts, d->service_.get(), d->auth_.get());
  if (!api.ok()) return api.status();
  d->api_ = *std::move(api);
  if (!config.metrics_address.empty()) {
    d->registry_.AddCollector([p = d.get()] { p->CollectMetrics(); });
    auto ms = metrics::MetricsServer::Start(config.metrics_address, config.allow_remote, &d->registry_);
    if (!ms.ok()) return ms.status();
    d->metrics_server_ = *std::move(ms);
    LOG(INFO) << "metrics on http://" << config.metrics_address << "/metrics (port "
              << d->metrics_server_->port() << ")";
  }
  // Restored policies, then --policy-dir, then the earlier runs' programs go
  // (they enforced meanwhile). Always on a thread: the API answers at once.
  d->retiring_ = !d->previous_runs_.empty();
  d->policy_dir_loader_ = std::thread([p = d.get(), files = std::move(policy_files),
                                       restored = std::move(restored.policies)] {
    absl::Time start = absl::Now();
    // A bulk load: the policy filter maps' map-in-map writes (an RCU grace
    // period each) are batched, a handful for the whole load instead of one
    // or more per policy. Enforcement follows each policy at once.
    std::optional<PolicyFilterState::Bulk> bulk;
    if (p->filter_) bulk.emplace(p->filter_.get());
    for (const PersistedPolicy& r : restored) {
      if (p->stop_loading_.load()) return;
      p->RestorePolicy(r);
      ++p->restore_done_;
    }
    if (!restored.empty()) {
      LOG(INFO) << "--state-dir: " << restored.size() << " policies restored in "
                << absl::FormatDuration(absl::Now() - start);
    }
    for (const auto& f : files) {
      if (p->stop_loading_.load()) {
        LOG(INFO) << "--policy-dir: loading stopped by shutdown after " << p->policy_files_done_.load()
                  << " of " << files.size() << " files";
        return;
      }
      p->LoadPolicyFile(f);
      ++p->policy_files_done_;
    }
    if (!files.empty()) {
      LOG(INFO) << "--policy-dir: " << files.size() << " files read, " << p->policies_->size()
                << " tracing policies loaded, in " << absl::FormatDuration(absl::Now() - start);
    }
    bulk.reset();  // the filter maps complete before the earlier runs go
    p->RetirePreviousRuns();
  });
  d->started_ = true;
  if (d->exporter_) LOG(INFO) << "exporting events to " << config.export_file;
  LOG(INFO) << kProductName << " " << kVersion << " serving on " << config.server_address
            << " (node " << d->config_.node_name << ", loader " << config.loader << ", bpf dir "
            << config.bpf_dir << ")";
  return d;
}

namespace {

// Reads a --policy-dir file: opened non-blocking (a FIFO there would
// otherwise stall the loader, and shutdown with it), regular files only, at
// most the policy size limit.
absl::StatusOr<std::string> ReadPolicyFile(const std::filesystem::path& file) {
  FileDescriptor fd(open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return absl::UnavailableError(absl::StrCat("cannot open: ", strerror(errno)));
  struct stat sb;
  if (fstat(fd.get(), &sb) != 0) return absl::UnavailableError(absl::StrCat("cannot stat: ", strerror(errno)));
  if (!S_ISREG(sb.st_mode)) return absl::InvalidArgumentError("not a regular file");
  if (static_cast<uint64_t>(sb.st_size) > kMaxPolicyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy is ", sb.st_size, " bytes; the limit is ", kMaxPolicyBytes));
  }
  std::string text(static_cast<size_t>(sb.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::UnavailableError(absl::StrCat("cannot read: ", strerror(errno)));
    if (n == 0) break;  // shrank meanwhile
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

}  // namespace

void Daemon::LoadPolicyFile(const std::filesystem::path& file) {
  absl::StatusOr<PolicyDocument> doc = absl::UnavailableError("cannot read");
  absl::StatusOr<std::string> text = ReadPolicyFile(file);
  if (!text.ok()) {
    doc = text.status();
  } else {
    doc = ParsePolicyDocument(*text);
  }
  if (!doc.ok()) {
    // No name to list it under but the file's: that one, so that
    // ListTracingPolicies shows what failed and DeleteTracingPolicy of that
    // name clears it.
    LOG(WARNING) << "policy " << file << " not loaded: " << doc.status();
    absl::Status listed = policies_->AddLoadError(
        file.stem().string(), "", absl::StrCat(file.string(), ": ", doc.status().message()));
    if (!listed.ok()) LOG(WARNING) << "policy " << file << " not listed: " << listed;
    return;
  }
  // A policy that fails to load is listed in TP_STATE_LOAD_ERROR by the
  // manager (and logged there).
  absl::Status add = policies_->AddParsed(*std::move(doc), PolicyManager::OnFailure::kListAsLoadError);
  if (!add.ok()) LOG(WARNING) << "policy " << file << " not loaded: " << add;
}

void Daemon::RestorePolicy(const PersistedPolicy& r) {
  absl::StatusOr<PolicyDocument> doc = ParsePolicyDocument(r.yaml);
  if (!doc.ok()) {
    LOG(ERROR) << "--state-dir: policy \"" << r.name << "\" no longer parses: " << doc.status();
    absl::Status listed = policies_->AddLoadError(r.name, r.namespace_,
                                                  absl::StrCat("--state-dir: ", doc.status().message()),
                                                  /*persisted=*/true);
    if (!listed.ok()) LOG(WARNING) << "--state-dir: policy \"" << r.name << "\" not listed: " << listed;
    return;
  }
  PolicyManager::AddOptions o;
  o.persisted = true;
  o.enabled = r.enabled;
  o.mode = r.mode;
  absl::Status add = policies_->AddParsed(*std::move(doc), PolicyManager::OnFailure::kListAsLoadError, o);
  if (!add.ok()) LOG(WARNING) << "--state-dir: policy \"" << r.name << "\" not restored: " << add;
}

void Daemon::RetirePreviousRuns() {
  if (previous_runs_.empty()) return;
  absl::Status avail = policies_->LoaderStatus();
  if (!avail.ok()) {
    // Nothing of ours enforces: what an earlier run left is better than nothing.
    LOG(WARNING) << "keeping the earlier runs' pinned programs under " << config_.bpf_dir
                 << " enforcing: this run cannot load policies (" << avail.message() << ")";
    retiring_ = false;
    return;
  }
  const absl::Time start = absl::Now();
  size_t n = RetireGenerations(previous_runs_);
  LOG(INFO) << "removed " << n << " pins (links and maps) of earlier runs (" << previous_runs_.size()
            << " runs), their programs detached, in "
            << absl::FormatDuration(absl::Now() - start) << ": this run's " << policies_->size()
            << " policies enforce now";
  previous_runs_.clear();
  retiring_ = false;
}

void Daemon::RunUntilSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      if (!workloads_) {
        LOG(INFO) << "SIGHUP: nothing to reload (started without --workloads)";
      } else if (absl::Status rs = workloads_->Reload(); !rs.ok()) {
        LOG(ERROR) << "SIGHUP: workloads not reloaded: " << rs;
      } else {
        LOG(INFO) << "SIGHUP: workloads reloaded";
      }
      continue;
    }
    LOG(INFO) << "signal " << sig << ": shutting down";
    break;
  }
  Shutdown();
}

void Daemon::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time start = absl::Now();
  // The --policy-dir loader stops between two files (the one it is loading
  // finishes); nothing else loads after this.
  stop_loading_ = true;
  if (policy_dir_loader_.joinable()) policy_dir_loader_.join();
  metrics_server_.reset();  // its collector reads the parts below
  const absl::Duration metrics_stop = absl::Now() - start;
  process_sensor_running_ = false;
  process_sensor_.reset();  // detaches the base sensor, stops its reader
  bus_.Close();  // ends GetEvents streams
  exporter_.reset();  // writes what is queued, flushes
  event_counter_.reset();
  const absl::Time grpc_start = absl::Now();
  // gRPC waits out its whole deadline while any client is connected, even
  // idle (4 s of a 5 s deadline, seen with one idle channel): calls still
  // open after 1 s are cancelled (their handlers still run to the end).
  if (api_) api_->Shutdown(std::chrono::seconds(1));  // also removes the unix socket if it still is ours
  const absl::Duration grpc_stop = absl::Now() - grpc_start;
  // Everything is detached at once, then every policy is dropped without
  // its per-policy map updates (RCU waits): shutdown does not grow with the
  // number of policies.
  absl::Time unload_start = absl::Now();
  size_t n_policies = policies_ ? policies_->size() : 0;
  // A start that failed leaves nothing of its own enforcing (what earlier
  // runs left stays, unless the flag says to remove everything).
  const bool keep = started_ && dispatch_ != nullptr && dispatch_->KeepsEnforcing();
  if (!started_ && pins_) pins_->RemoveAll();  // the links then detach as their fds close
  if (backend_) backend_->BeginShutdown();
  policies_.reset();  // drops every policy
  backend_.reset();   // closes the maps and programs: the kernel frees them (unless pinned)
  pins_.reset();
  if (!config_.keep_sensors_on_exit) {
    // Everything goes, also what earlier runs left pinned and this run had
    // not retired yet (a shutdown while loading).
    size_t n = RetireGenerations(ListGenerations(config_.bpf_dir));
    if (n > 0) LOG(INFO) << "removed " << n << " pins (links and maps) of earlier runs";
  }
  const absl::Duration unload = absl::Now() - unload_start;
  workloads_.reset(); // stops polling, removes the demo cgroups it created (when empty)
  filter_.reset();
  // The policy filter pins (policy_filter_maps, policy_filter_cgroup_maps,
  // tg_cgtracker_map) were unpinned by filter_ above: the next start builds
  // them again (kept programs hold the maps they use). Unless enforcement is
  // kept, the dir goes if this run created it and it is now empty (someone
  // else's files stay).
  if (created_bpf_dir_ && !keep) rmdir(config_.bpf_dir.c_str());
  state_lock_.reset();
  LOG(INFO) << "stopped in " << absl::FormatDuration(absl::Now() - start) << " (" << n_policies
            << (keep ? " policies left enforcing, pinned, in " : " policies unloaded in ")
            << absl::FormatDuration(unload) << ", metrics server stopped in "
            << absl::FormatDuration(metrics_stop) << ", gRPC server in " << absl::FormatDuration(grpc_stop) << ")";
}

Daemon::~Daemon() { Shutdown(); }

absl::StatusOr<JsonExporterOptions> ExportOptionsFromConfig(const DaemonConfig& config) {
  JsonExporterOptions o;
  o.file.path = config.export_file;
  o.file.max_size_bytes = config.export_file_max_size_mb << 20;
  if (config.export_file_max_backups < 0) {
    return absl::InvalidArgumentError("--export-file-max-backups: must be >= 0");
  }
  o.file.max_backups = config.export_file_max_backups;
  unsigned perm = 0;
  const std::string& p = config.export_file_perm;
  if (p.empty() || p.size() > 4 || p.find_first_not_of("01234567") != std::string::npos ||
      (perm = std::stoul(p, nullptr, 8)) > 0777) {
    return absl::InvalidArgumentError(
        absl::StrCat("--export-file-perm \"", p, "\": want octal permissions such as 600 or 0640"));
  }
  if (perm & 037) {
    // Every process's command line is in these files: group write or any
    // access for others is refused at start rather than warned about, so a
    // daemon never runs leaking them.
    return absl::InvalidArgumentError(absl::StrCat(
        "--export-file-perm \"", p,
        "\": more open than 0640 (the events hold every process's command line); want e.g. 600 or 640"));
  }
  o.file.mode = perm;
  o.allowlist = config.export_allowlist;
  o.denylist = config.export_denylist;
  return o;
}

absl::Status Daemon::StartDatapath() {
  PolicyFilterOptions fo;
  fo.bpf_dir = config_.bpf_dir;
  fo.tetragon_bpf_dir = config_.tetragon_bpf_dir;
  // Our maps are written in batches by a background thread: no policy add,
  // delete or pod change waits for an RCU grace period (the datapath reads
  // the run lists, not these maps).
  fo.defer_map_writes = true;
  auto filter = PolicyFilterState::Create(fo);
  if (!filter.ok()) {
    if (!config_.tetragon_bpf_dir.empty()) {
      return absl::Status(filter.status().code(),
                          absl::StrCat("--tetragon-bpf-dir: ", filter.status().message()));
    }
    LOG(ERROR) << "policy filter maps unavailable: " << filter.status();
    backend_ = MakeUnavailableBackend(config_.loader, absl::StrCat("policy filter maps: ", filter.status().message()));
    return absl::OkStatus();
  }
  filter_ = *std::move(filter);
  if (!config_.workloads_file.empty()) {
    WorkloadSourceOptions wo;
    if (config_.workloads_file != "demo") wo.path = config_.workloads_file;
    // The first read registers every pod: one bulk load of the filter maps
    // (a new cgroup row is a map-in-map write, an RCU grace period each).
    std::optional<PolicyFilterState::Bulk> bulk(filter_.get());
    auto w = WorkloadSource::Create(filter_.get(), wo);
    bulk.reset();
    if (!w.ok()) {
      return absl::Status(w.status().code(), absl::StrCat("--workloads: ", w.status().message()));
    }
    workloads_ = *std::move(w);
    workloads_->StartPolling();
  }
  DispatchOptions o;
  o.bus = &bus_;
  o.processes = process_cache_.get();
  o.event_cache.retries = config_.event_cache_retries;
  o.event_cache.retry_delay = config_.event_cache_retry_delay;
  o.event_cache_stats = &event_cache_stats_;
  o.ancestors = AncestorsConfig::Parse(config_.enable_ancestors);
  o.expose_stack_addresses = config_.expose_stack_addresses;
  o.filter = filter_.get();
  o.node_name = config_.node_name;
  if (!config_.node_labels.empty()) o.node_labels = *ParseNodeLabels(config_.node_labels);  // validated at start
  o.enrich = MakePodEnricher(filter_.get());
  if (config_.loader == "dispatch") {
    // Every attachment pinned in this run's own dir: a crash or a kept
    // SIGTERM leaves the policies enforcing. (The per-policy comparison
    // loader keeps its links owned by fds: it detaches with the process.)
    auto pins = LinkPins::Create(config_.bpf_dir);
    if (!pins.ok()) return absl::Status(pins.status().code(), absl::StrCat("--bpf-dir: ", pins.status().message()));
    pins_ = *std::move(pins);
    o.pins = pins_.get();
    o.keep_on_exit = config_.keep_sensors_on_exit;
  }
  auto backend = config_.loader == "per-policy" ? PerPolicyBackend::Create(o) : DispatchBackend::Create(o);
  if (!backend.ok()) {
    if (pins_) {
      pins_->RemoveAll();
      pins_.reset();
    }
    LOG(ERROR) << "dispatch loader unavailable: " << backend.status();
    backend_ = MakeUnavailableBackend(config_.loader, std::string(backend.status().message()));
    return absl::OkStatus();
  }
  dispatch_ = backend->get();
  backend_ = *std::move(backend);
  return absl::OkStatus();
}

void Daemon::CollectMetrics() {
  if (dispatch_) {
    std::map<std::string, uint64_t> lost;
    for (const HookStatus& h : dispatch_->Hooks()) {
      metrics_.dispatcher_runs_total->With({h.key})->Set(hook_runs_.Update(h.key, h.stats.runs));
      metrics_.tail_call_overflows_total->With({h.key})->Set(
          hook_tail_call_fails_.Update(h.key, h.stats.tail_call_fail));
      metrics_.rate_limited_events_total->With({h.key})->Set(hook_rate_limited_.Update(h.key, h.stats.rate_limited));
      metrics_.truncated_events_total->With({h.key})->Set(hook_truncated_.Update(h.key, h.stats.truncated_lists));
      lost[h.key] = h.stats.lost;
    }
    metrics_.events_lost_total->With({metrics::kLostPolicyRingbuf})->Set(policy_events_lost_.Update(lost));
    const UserActionStats ua = dispatch_->user_action_stats();
    metrics_.user_actions_total->With({"done"})->Set(ua.done);
    metrics_.user_actions_total->With({"failed"})->Set(ua.failed);
    metrics_.user_actions_total->With({"dropped"})->Set(ua.dropped);
  }
  metrics_.events_lost_total->With({metrics::kLostRingbuf})->Set(process_sensor_ ? process_sensor_->lost() : 0);
  metrics_.events_lost_total->With({metrics::kLostSubscriber})->Set(bus_.stats().dropped);
  std::vector<tetragon::TracingPolicyStatus> list = policies_->List();
  int64_t loaded = 0;
  metrics_.policy_kernel_memory_bytes->Clear();
  for (const auto& p : list) {
    if (p.state() == tetragon::TP_STATE_LOAD_ERROR || p.state() == tetragon::TP_STATE_LOADING) {
      continue;  // nothing loaded (yet)
    }
    ++loaded;
    std::string label = p.namespace_().empty() ? p.name() : absl::StrCat(p.namespace_(), "/", p.name());
    metrics_.policy_kernel_memory_bytes->With({label})->Set(static_cast<int64_t>(p.kernel_memory_bytes()));
  }
  metrics_.policies_loaded->Get()->Set(loaded);
  metrics_.event_cache_entries->Get()->Set(static_cast<int64_t>(event_cache_stats_.held()));
  metrics_.event_cache_inserts_total->Get()->Set(event_cache_stats_.inserts());
  for (const auto& [key, n] : event_cache_stats_.failures()) {
    metrics_.event_cache_fetch_failures_total->With({key.first, key.second})->Set(n);
  }
}

}  // namespace tgd
