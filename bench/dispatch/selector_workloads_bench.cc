// What matchWorkloads costs per event (issue 12: "a per-selector workload
// check that must cost no more than today's per-policy filter"). Root only.
// One policy on tracepoint/syscalls/sys_enter_getpid whose selector never
// matches (matchBinaries In a path no process runs), scoped three ways:
//   policy   - a policy-level podSelector app=a (today's per-policy filter)
//   selector - no policy-level scoping, the selector's matchWorkloads app=a
//   mixed    - podSelector app in (a, b), selector 0 scoped to app=b (skipped
//              in pod a by its run-list mask), selector 1 unscoped
// and BPF ns per getpid event measured in pod a (the policy applies) and pod
// b (it applies to b only in `mixed`), median of --repeats loops.
//   bazel run -c opt //bench/dispatch:selector_workloads_bench
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <bpf/bpf.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "bench/dispatch/bpf_accounting.h"
#include "bench/dispatch/measure_loop.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"

ABSL_FLAG(int, syscalls, 1000000, "getpid calls per measured loop");
ABSL_FLAG(int, repeats, 5, "measured loops per shape and pod");
ABSL_FLAG(int, cpu, 1, "CPU for the loop");

namespace tgd::bench {
namespace {

constexpr char kHead[] = R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: wl
spec:
)";
constexpr char kHook[] = R"(  tracepoints:
  - subsystem: syscalls
    event: sys_enter_getpid
    selectors:
)";
constexpr char kNever[] = R"(      matchBinaries:
      - operator: In
        values: [/nonexistent/tgd-bench]
)";

struct Shape {
  const char* name;
  std::string yaml;
  uint32_t filter_id;
};

std::vector<Shape> Shapes() {
  const std::string pod_a = "  podSelector:\n    matchLabels:\n      app: a\n";
  const std::string pods_ab =
      "  podSelector:\n    matchExpressions:\n    - key: app\n      operator: In\n      values: [a, b]\n";
  const std::string wl = "    - matchWorkloads:\n        podSelector:\n          matchLabels:\n            app: ";
  return {
      {"policy", absl::StrCat(kHead, pod_a, kHook, "    -\n", kNever), 2},
      {"selector", absl::StrCat(kHead, kHook, wl, "a\n", kNever), 0},
      {"mixed", absl::StrCat(kHead, pods_ab, kHook, wl, "b\n", kNever, "    -\n", kNever), 2},
  };
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int Run() {
  auto stats = BpfStatsGuard::Enable();
  if (!stats.ok()) {
    fprintf(stderr, "bpf stats: %s\n", std::string(stats.status().message()).c_str());
    return 1;
  }
  auto pods = testing::FilterWithPodsAB("wlbench");
  if (!pods.ok()) {
    fprintf(stderr, "pods: %s\n", std::string(pods.status().message()).c_str());
    return 1;
  }
  EventBus bus;
  auto backend = testing::CreateTestBackend("dispatch", &bus, pods->filter.get());
  if (!backend.ok()) {
    fprintf(stderr, "backend: %s\n", std::string(backend.status().message()).c_str());
    return 1;
  }
  printf("| shape | BPF ns/event in pod a | in pod b |\n|---|---|---|\n");
  for (const Shape& s : Shapes()) {
    auto doc = ParsePolicyDocument(s.yaml);
    auto loaded = doc.ok() ? (*backend)->Load(*doc, s.filter_id, PolicyMode::kEnforce)
                           : absl::StatusOr<std::unique_ptr<LoadedPolicy>>(doc.status());
    if (!loaded.ok()) {
      fprintf(stderr, "%s: %s\n", s.name, std::string(loaded.status().message()).c_str());
      return 1;
    }
    std::set<uint32_t> tail;
    for (const HookStatus& h : (*backend)->Hooks()) {
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(h.evaluator_fd, &info, &len) == 0) tail.insert(info.id);
    }
    std::vector<double> a, b;
    for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
      for (auto [cg, out] : {std::pair{pods->a.get(), &a}, std::pair{pods->b.get(), &b}}) {
        auto sample = MeasureLoop(*cg, absl::GetFlag(FLAGS_syscalls), absl::GetFlag(FLAGS_cpu), tail);
        if (!sample.ok()) {
          fprintf(stderr, "%s: %s\n", s.name, std::string(sample.status().message()).c_str());
          return 1;
        }
        out->push_back(sample->bpf_ns);
      }
    }
    printf("| %s | %.0f | %.0f |\n", s.name, Median(a), Median(b));
    loaded->reset();
  }
  return 0;
}

}  // namespace
}  // namespace tgd::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tgd::bench::Run();
}
