// MeasurePolicyDirStart (policy_dir_start.h).
#include "bench/dispatch/policy_dir_start.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/dispatch/backends.h"
#include "sensor/bpfcore/fs.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/policymgr/policy_manager.h"

namespace tgd::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// Workloads: 50 policies select each (under the dispatcher's 64 a list).
constexpr int kPoliciesPerPod = 50;
// Fake cgroup ids: run lists and filter entries need no real cgroup.
constexpr uint64_t kStartCgroupBase = 0x7d00000000000000ull;

// A scoped policy of the benchmark's shape (matchBinaries In 8 paths) on
// sys_enter_getpid.
std::string StartPolicyYaml(int i, int pod) {
  std::string paths;
  for (int j = 0; j < 8; ++j)
    absl::StrAppend(&paths, j ? ", " : "", "\"/opt/start", i, "/bin/tool", j,
                    "\"");
  return absl::StrCat(
      "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: "
      "start-",
      i, "\nspec:\n  podSelector:\n    matchLabels:\n      app: start", pod,
      "\n  tracepoints:\n  - subsystem: syscalls\n    event: "
      "sys_enter_getpid\n    selectors:\n"
      "    - matchBinaries:\n      - operator: In\n        values: [",
      paths, "]\n");
}

}  // namespace

StartReport MeasurePolicyDirStart(const std::string& mode, int policies,
                                  bool bpf_filter, double budget_s) {
  StartReport r;
  r.bpf_filter = bpf_filter;
  r.policies = policies;
  r.pods = (policies + kPoliciesPerPod - 1) / kPoliciesPerPod;
  char tmpl[] = "/tmp/tgd-bench-policy-dir-XXXXXX";
  if (!mkdtemp(tmpl)) {
    r.first_error = "mkdtemp failed";
    return r;
  }
  const std::filesystem::path dir = tmpl;
  for (int i = 0; i < policies; ++i) {
    std::ofstream(dir / absl::StrFormat("policy-%05d.yaml", i))
        << StartPolicyYaml(i, i % r.pods);
  }
  const std::string bpf_dir =
      absl::StrCat("/sys/fs/bpf/tgd-bench-start-", getpid());
  {
    // --- start: what the daemon does before it serves.
    Clock::time_point t0 = Clock::now();
    const double cpu0 = CpuSeconds();
    PolicyFilterOptions fo;
    fo.use_bpf = bpf_filter;
    fo.cgroup_tracker = false;
    fo.cgtracker_program = false;
    fo.defer_map_writes = bpf_filter;  // as the daemon
    if (bpf_filter) {
      fo.bpf_dir = bpf_dir;
      if (absl::Status s = EnsureBpffsDir(bpf_dir); !s.ok()) {
        r.first_error = s.ToString();
        return r;
      }
    }
    absl::StatusOr<std::unique_ptr<PolicyFilterState>> filter =
        PolicyFilterState::Create(fo);
    if (!filter.ok()) {
      r.first_error = filter.status().ToString();
      return r;
    }
    // As the daemon starts: the workloads, then the --policy-dir files, each
    // one bulk load of the filter maps (here one for both).
    const uint64_t writes0 = (*filter)->outer_map_writes();
    std::optional<PolicyFilterState::Bulk> bulk(filter->get());
    for (int p = 0; p < r.pods; ++p) {
      std::string app = absl::StrCat("start", p);
      absl::Status s = (*filter)->AddPodContainer(
          {app, app, "default", {{"app", app}}},
          {app, "main", "", kStartCgroupBase + p, ""});
      if (!s.ok() && r.first_error.empty()) r.first_error = s.ToString();
    }
    r.pods_s = Seconds(Clock::now() - t0);
    DispatchOptions o;
    o.filter = filter->get();
    o.node_name = "bench";
    o.start_reader = false;
    o.seed_exec_paths = false;
    absl::StatusOr<std::unique_ptr<PolicyBackend>> backend =
        CreateBackend(mode, o);
    if (!backend.ok()) {
      r.first_error = backend.status().ToString();
      return r;
    }
    auto* dispatch = dynamic_cast<DispatchBackend*>(backend->get());
    uint64_t gp0 = dispatch ? dispatch->ReclaimGracePeriods() : 0;
    auto manager = std::make_unique<PolicyManager>(backend->get());
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      files.push_back(e.path());
    std::sort(files.begin(), files.end());
    int refused_in_a_row = 0;
    for (const auto& f : files) {
      if (Seconds(Clock::now() - t0) > budget_s) {
        r.stop = absl::StrFormat("the %.0f s budget ran out", budget_s);
        break;
      }
      std::ifstream in(f);
      std::stringstream text;
      text << in.rdbuf();
      absl::StatusOr<PolicyDocument> doc = ParsePolicyDocument(text.str());
      absl::Status s =
          doc.ok()
              ? manager->AddParsed(*std::move(doc),
                                   PolicyManager::OnFailure::kListAsLoadError)
              : doc.status();
      if (s.ok()) {
        ++r.loaded;
        refused_in_a_row = 0;
        continue;
      }
      if (r.first_error.empty()) r.first_error = s.ToString();
      if (++refused_in_a_row >= 3) {
        r.stop = "3 refusals in a row";
        break;
      }
    }
    bulk.reset();  // the last batched writes: part of the start
    r.total_s = Seconds(Clock::now() - t0);
    (*filter)->WaitMapsWritten();
    r.filter_written_s = Seconds(Clock::now() - t0);
    r.filter_outer_writes = (*filter)->outer_map_writes() - writes0;
    r.cpu_s = CpuSeconds() - cpu0;
    if (dispatch) r.grace_periods = dispatch->ReclaimGracePeriods() - gp0;
    // --- teardown (not part of the start figure).
    Clock::time_point t1 = Clock::now();
    (*backend)->BeginShutdown();
    manager.reset();
    backend->reset();
    filter->reset();
    r.teardown_s = Seconds(Clock::now() - t1);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (bpf_filter) std::filesystem::remove_all(bpf_dir, ec);
  return r;
}

}  // namespace tgd::bench
