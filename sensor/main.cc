// tgdispatch: the daemon binary.
//   tgdispatch serve [flags]   run the sensor and its gRPC API
//   tgdispatch version         print the version
//   tgdispatch features [--json]   probe and print the hook kinds this kernel runs
//   tgdispatch policy validate [--json] [--loadable] FILE...
//   tgdispatch policyfilter dump   list the pinned policy filter maps (ours, a
//                                  Tetragon agent's) with owners and disagreements
#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/time/clock.h"
#include "compat/policy/validate_cli.h"
#include "sensor/base/version.h"
#include "sensor/daemon/daemon.h"
#include "sensor/daemon/cleanup.h"
#include "sensor/loader/features.h"
#include "sensor/loader/loadable.h"
#include "sensor/policyfilter/filter_dump.h"
#include "sensor/policyfilter/filter_maps.h"

ABSL_FLAG(std::string, server_address, "localhost:54322",
          "gRPC listen address: host:port (loopback unless --allow-remote) or unix:///path");
ABSL_FLAG(bool, allow_remote, false,
          "allow a non-loopback --server-address (remote callers get only the read-only RPCs unless "
          "--server-tls-require-client-cert)");
ABSL_FLAG(std::string, server_group, "",
          "group whose members may call the policy RPCs and GetEvents besides root; the unix socket is then "
          "0660 with this group (default: root only, socket 0600)");
ABSL_FLAG(std::string, server_tls_cert_file, "",
          "PEM server certificate; when set, TLS is enabled on the TCP gRPC listener");
ABSL_FLAG(std::string, server_tls_key_file, "",
          "PEM private key matching --server-tls-cert-file (required with it)");
ABSL_FLAG(std::vector<std::string>, server_tls_client_ca_files, {},
          "PEM CA bundles verifying client certificates (comma-separated); required by "
          "--server-tls-require-client-cert");
ABSL_FLAG(bool, server_tls_require_client_cert, false,
          "require and verify client certificates (mTLS); a verified client may call every RPC");
ABSL_FLAG(std::string, bpf_dir, "/sys/fs/bpf/tgdispatch", "bpffs directory for tgdispatch's pinned state");
ABSL_FLAG(std::string, state_dir, tgd::kDefaultStateDir,
          "directory where policies added through the API are kept (with their state and mode) across restarts");
ABSL_FLAG(bool, keep_sensors_on_exit, true,
          "on SIGTERM/SIGINT leave the dispatch loader's pinned programs attached (enforcing) until the next start "
          "replaces them; false: detach and unpin everything on exit");
ABSL_FLAG(std::string, policy_dir, "", "directory of TracingPolicy *.yaml files loaded at start");
ABSL_FLAG(std::string, export_file, "",
          "JSON export file: one protobuf-JSON GetEventsResponse per line, as Tetragon's export (empty: off)");
ABSL_FLAG(uint64_t, export_file_max_size_mb, 10, "rotate the export file past this size (MB; 0 = 100)");
ABSL_FLAG(int, export_file_max_backups, 5, "rotated export files to keep (0 = keep all)");
ABSL_FLAG(std::string, export_file_perm, "600", "permissions of export files (octal)");
ABSL_FLAG(std::string, export_allowlist, "",
          "export only events matching one of these JSON filters, e.g. {\"event_set\":[\"PROCESS_EXEC\"]}");
ABSL_FLAG(std::string, export_denylist, "", "do not export events matching one of these JSON filters");
ABSL_FLAG(std::string, node_name, "", "node name reported in events (default: hostname)");
ABSL_FLAG(std::string, node_labels, "",
          "this node's labels, key=value,...: policies' nodeSelector is matched against them (unset: a "
          "nodeSelector with labels is refused)");
ABSL_FLAG(std::string, loader, "dispatch", "policy loader: dispatch | per-policy");
ABSL_FLAG(std::string, workloads, "",
          "workloads file (pods, labels, container cgroup paths); \"demo\" = the embedded default "
          "(pods default/pod-a app=a and default/pod-b app=b in cgroups it creates)");
ABSL_FLAG(std::string, tetragon_bpf_dir, "",
          "run beside the Tetragon agent whose pins are here (e.g. /sys/fs/bpf/tetragon): its policy "
          "filter maps are read, never written; its tg_cgtracker_map is shared");
ABSL_FLAG(std::string, metrics_address, "localhost:2113",
          "Prometheus metrics listen address host:port, /metrics (loopback unless --allow-remote; empty: off)");
ABSL_FLAG(bool, process_events, true, "run the base process sensor (process_exec / process_exit events)");
ABSL_FLAG(int, process_cache_size, 65536, "size of the process cache (processes; Tetragon's default)");
ABSL_FLAG(absl::Duration, process_cache_gc_interval, absl::Seconds(30),
          "an exited process nothing references any more is kept two of these intervals for late events "
          "(Tetragon frees it on its second GC pass)");
ABSL_FLAG(int, event_cache_retries, 15,
          "times an event whose process or parent is not known yet is retried before it is sent without them");
ABSL_FLAG(int, event_cache_retry_delay, 2, "seconds between event cache retries");
ABSL_FLAG(std::string, enable_ancestors, "",
          "comma-separated event types whose events carry ancestors: base (process_exec/exit, required by the "
          "others), kprobe, tracepoint, uprobe, lsm; unknown types are ignored (Tetragon's flag)");
ABSL_FLAG(bool, expose_stack_addresses, false,
          "kernel_stack_trace / user_stack_trace entries carry the frame's address (Tetragon's flag)");
ABSL_FLAG(std::string, log_level, "info", "log level: debug | info | warn | error");
ABSL_FLAG(bool, json, false, "features: print JSON instead of a table");

namespace {

// `tgdispatch policyfilter dump`: our pinned maps, and beside a Tetragon
// agent its maps too, each entry tagged with its owner, then what disagrees.
// A writer changes the two maps of a pair one after the other, so a read can
// catch a change half done: a disagreement is reported when it is seen in
// every one of up to 5 reads 100 ms apart.
int PolicyFilterDump(const std::string& bpf_dir, const std::string& tetragon_dir) {
  auto read_all = [&](std::vector<tgd::OwnedMaps>* maps) -> bool {
    maps->clear();
    auto read = [&](const std::string& owner, const std::string& dir, bool must) -> bool {
      tgd::OwnedMaps m{owner, dir, std::nullopt, true};
      auto content = tgd::ReadPinnedPolicyFilterMaps(dir, &m.has_cgroup_map);
      if (content.ok()) {
        m.content = *std::move(content);
      } else if (must || !absl::IsNotFound(content.status())) {
        std::cerr << "policyfilter dump: " << owner << ": " << content.status() << "\n";
        return false;
      }
      maps->push_back(std::move(m));
      return true;
    };
    if (!tetragon_dir.empty() && !read("tetragon", tetragon_dir, true)) return false;
    // Beside an agent our maps may be absent (tgdispatch not running).
    return read("tgdispatch", bpf_dir, tetragon_dir.empty());
  };
  std::vector<tgd::OwnedMaps> maps;
  if (!read_all(&maps)) return 1;
  std::vector<std::string> first = tgd::OwnedDumpIssues(maps);
  std::set<std::string> seen(first.begin(), first.end());
  for (int i = 1; i < 5 && !seen.empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    if (!read_all(&maps)) return 1;
    std::vector<std::string> again = tgd::OwnedDumpIssues(maps);
    std::set<std::string> both;
    for (const std::string& s : again) {
      if (seen.count(s)) both.insert(s);
    }
    seen = std::move(both);
  }
  int problems = 0;
  std::cout << tgd::FormatOwnedDump(maps, &problems, &seen);
  return problems == 0 ? 0 : 1;
}

bool ApplyLogLevel(const std::string& level) {
  FLAGS_logtostderr = true;
  if (level == "debug") {
    FLAGS_v = 1;
  } else if (level == "info") {
    FLAGS_minloglevel = 0;
  } else if (level == "warn" || level == "warning") {
    FLAGS_minloglevel = 1;
  } else if (level == "error") {
    FLAGS_minloglevel = 2;
  } else {
    return false;
  }
  return true;
}

int Serve() {
  // Signals are taken synchronously by the daemon (sigwait): block them
  // before any thread starts so every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  tgd::DaemonConfig c;
  c.server_address = absl::GetFlag(FLAGS_server_address);
  c.allow_remote = absl::GetFlag(FLAGS_allow_remote);
  c.server_group = absl::GetFlag(FLAGS_server_group);
  c.server_tls.cert_file = absl::GetFlag(FLAGS_server_tls_cert_file);
  c.server_tls.key_file = absl::GetFlag(FLAGS_server_tls_key_file);
  c.server_tls.client_ca_files = absl::GetFlag(FLAGS_server_tls_client_ca_files);
  c.server_tls.require_client_cert = absl::GetFlag(FLAGS_server_tls_require_client_cert);
  c.bpf_dir = absl::GetFlag(FLAGS_bpf_dir);
  c.policy_dir = absl::GetFlag(FLAGS_policy_dir);
  c.state_dir = absl::GetFlag(FLAGS_state_dir);
  c.keep_sensors_on_exit = absl::GetFlag(FLAGS_keep_sensors_on_exit);
  c.export_file = absl::GetFlag(FLAGS_export_file);
  c.export_file_max_size_mb = absl::GetFlag(FLAGS_export_file_max_size_mb);
  c.export_file_max_backups = absl::GetFlag(FLAGS_export_file_max_backups);
  c.export_file_perm = absl::GetFlag(FLAGS_export_file_perm);
  c.export_allowlist = absl::GetFlag(FLAGS_export_allowlist);
  c.export_denylist = absl::GetFlag(FLAGS_export_denylist);
  c.node_name = absl::GetFlag(FLAGS_node_name);
  c.node_labels = absl::GetFlag(FLAGS_node_labels);
  c.loader = absl::GetFlag(FLAGS_loader);
  c.workloads_file = absl::GetFlag(FLAGS_workloads);
  c.tetragon_bpf_dir = absl::GetFlag(FLAGS_tetragon_bpf_dir);
  c.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  c.process_events = absl::GetFlag(FLAGS_process_events);
  c.process_cache_size = static_cast<size_t>(std::max(absl::GetFlag(FLAGS_process_cache_size), 1));
  c.process_cache_gc_interval = absl::GetFlag(FLAGS_process_cache_gc_interval);
  c.event_cache_retries = absl::GetFlag(FLAGS_event_cache_retries);
  c.enable_ancestors = absl::GetFlag(FLAGS_enable_ancestors);
  c.expose_stack_addresses = absl::GetFlag(FLAGS_expose_stack_addresses);
  c.event_cache_retry_delay = absl::Seconds(absl::GetFlag(FLAGS_event_cache_retry_delay));
  if (c.process_cache_gc_interval <= absl::ZeroDuration() || c.event_cache_retries < 1 ||
      absl::GetFlag(FLAGS_event_cache_retry_delay) < 1) {
    std::cerr << "--process-cache-gc-interval, --event-cache-retries and --event-cache-retry-delay must be "
                 "positive\n";
    return 2;
  }
  auto daemon = tgd::Daemon::Start(c);
  if (!daemon.ok()) {
    LOG(ERROR) << "cannot start: " << daemon.status();
    return 1;
  }
  (*daemon)->RunUntilSignal();
  return 0;
}

// Flags are documented with dashes, as Tetragon's are (--server-address);
// absl names them with underscores. Rewrites the name part of each
// "--flag-name[=value]" argument before parsing.
std::vector<std::string> NormalizeFlagNames(int argc, char** argv) {
  std::vector<std::string> out;
  bool end_of_flags = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") end_of_flags = true;
    if (!end_of_flags && i > 0 && a.rfind("--", 0) == 0) {
      size_t eq = a.find('=');
      for (size_t k = 2; k < std::min(eq, a.size()); ++k) {
        if (a[k] == '-') a[k] = '_';
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

constexpr char kUsage[] =
    "tgdispatch serve [--flags]   run the sensor and its Tetragon-compatible gRPC API\n"
    "  tgdispatch version           print the version\n"
    "  tgdispatch features [--json] probe (load and attach a minimal program of each hook kind)\n"
    "                               and print what this kernel runs, and why not (needs root)\n"
    "  tgdispatch policy validate [--json] [--loadable] FILE...\n"
    "                               check TracingPolicy files (no root needed); --loadable: also\n"
    "                               report what this build cannot load\n"
    "  tgdispatch policyfilter dump [--bpf-dir=D] [--tetragon-bpf-dir=T]\n"
    "                               list cgroup id -> policy ids and policy id -> cgroup ids of\n"
    "                               tgdispatch's maps (and a Tetragon agent's), with the owner\n"
    "                               of each entry; exit 1 when the maps disagree\n"
    "  tgdispatch cleanup [--bpf-dir=D] [--state-dir=S]\n"
    "                               uninstall: detach and unpin every program runs left enforcing,\n"
    "                               the policy filter pins, and the kept policies (refused while a\n"
    "                               daemon runs)";

bool IsHelp(const std::string& a) { return a == "--help" || a == "-h" || a == "-help" || a == "--helpshort"; }

// `--help` (also after a command): the commands, then this binary's flags
// with the dashed names they are documented under (absl's own --help lists
// only flags of a file named after the program, and none are).
void PrintHelp(std::ostream& out) {
  out << "usage: " << kUsage << "\n\nflags (serve; policyfilter dump reads --bpf-dir and --tetragon-bpf-dir):\n";
  std::vector<std::pair<std::string, const absl::CommandLineFlag*>> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::EndsWith(flag->Filename(), "sensor/main.cc")) continue;
    std::string dashed(name);
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    flags.emplace_back(std::move(dashed), flag);
  }
  std::sort(flags.begin(), flags.end());
  for (const auto& [name, flag] : flags) {
    out << "  --" << name << " (default \"" << flag->DefaultValue() << "\")\n      " << flag->Help() << "\n";
  }
  out << "\nflags are also accepted with underscores (--server_address).\n";
}

}  // namespace

int main(int argc, char** argv) {
  // `policy validate` takes its own flags (--json, --loadable): dispatch
  // before absl parses.
  if (argc >= 3 && std::string(argv[1]) == "policy" && std::string(argv[2]) == "validate") {
    return tgd::policy::ValidateCommand(std::vector<std::string>(argv + 3, argv + argc), tgd::MachineLoadChecker(),
                                        std::cout, std::cerr);
  }
  std::vector<std::string> normalized = NormalizeFlagNames(argc, argv);
  std::vector<char*> norm_argv;
  for (std::string& s : normalized) norm_argv.push_back(s.data());
  norm_argv.push_back(nullptr);
  argv = norm_argv.data();
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") break;
    if (IsHelp(argv[i])) {
      PrintHelp(std::cout);
      return 0;
    }
  }
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  if (!ApplyLogLevel(absl::GetFlag(FLAGS_log_level))) {
    std::cerr << "--log-level \"" << absl::GetFlag(FLAGS_log_level)
              << "\": want debug, info, warn or error\n";
    return 2;
  }
  std::string cmd = args.size() > 1 ? args[1] : "";
  if (cmd == "serve" && args.size() == 2) return Serve();
  if (cmd == "policyfilter" && args.size() == 3 && std::string(args[2]) == "dump") {
    return PolicyFilterDump(absl::GetFlag(FLAGS_bpf_dir), absl::GetFlag(FLAGS_tetragon_bpf_dir));
  }
  if (cmd == "cleanup" && args.size() == 2) {
    absl::Status st = tgd::Cleanup(absl::GetFlag(FLAGS_bpf_dir), absl::GetFlag(FLAGS_state_dir), std::cout);
    if (!st.ok()) {
      std::cerr << "cleanup: " << st << "\n";
      return 1;
    }
    return 0;
  }
  if (cmd == "features" && args.size() == 2) {
    if (geteuid() != 0) {
      std::cerr << "note: not root: the kernel refuses BPF programs to this user, so every probe may fail\n";
    }
    const tgd::KernelFeatures& f = tgd::KernelFeatures::Get();
    std::cout << (absl::GetFlag(FLAGS_json) ? f.FormatJson() : f.FormatTable());
    return 0;
  }
  if (cmd == "version" && args.size() == 2) {
    std::cout << tgd::kProductName << " " << tgd::kVersion << "\n";
    return 0;
  }
  std::cerr << (cmd.empty() ? std::string("missing command") : absl::StrCat("unknown command \"", cmd, "\""))
            << "\nusage: " << absl::ProgramUsageMessage() << "\n";
  return 2;
}
