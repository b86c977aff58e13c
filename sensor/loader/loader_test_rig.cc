// See loader_test_rig.h.
#include "sensor/loader/loader_test_rig.h"

#include <fstream>
#include <utility>

#include "sensor/base/status_macros.h"
#include "sensor/loader/per_policy_backend.h"

namespace tgd::testing {

absl::StatusOr<std::unique_ptr<PolicyFilterState>> InMemoryPolicyFilter() {
  PolicyFilterOptions fo;
  fo.use_bpf = false;
  return PolicyFilterState::Create(fo);
}

absl::StatusOr<std::unique_ptr<TestCgroup>> AddTestPod(PolicyFilterState* filter, const std::string& app,
                                                       const std::string& cgroup) {
  TGD_ASSIGN_OR_RETURN(std::unique_ptr<TestCgroup> cg, TestCgroup::Create(cgroup));
  TGD_RETURN_IF_ERROR(filter->AddPodContainer({"uid-" + app, "pod-" + app, "default", {{"app", app}}},
                                              {"cont-" + app, "main", "", cg->id(), cg->path()}));
  return cg;
}

absl::StatusOr<PodsAB> FilterWithPodsAB(const std::string& cgroup_prefix) {
  PodsAB p;
  TGD_ASSIGN_OR_RETURN(p.filter, InMemoryPolicyFilter());
  TGD_ASSIGN_OR_RETURN(p.a, AddTestPod(p.filter.get(), "a", cgroup_prefix + "-a"));
  TGD_ASSIGN_OR_RETURN(p.b, AddTestPod(p.filter.get(), "b", cgroup_prefix + "-b"));
  return p;
}

absl::StatusOr<std::unique_ptr<DispatchBackend>> CreateTestBackend(const std::string& loader, EventBus* bus,
                                                                   PolicyFilterState* filter, DispatchOptions o) {
  o.bus = bus;
  o.filter = filter;
  o.node_name = "test-node";
  o.start_reader = false;
  return loader == "dispatch" ? DispatchBackend::Create(std::move(o)) : PerPolicyBackend::Create(std::move(o));
}

std::string LibcPath() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    size_t at = line.find('/');
    if (at != std::string::npos && line.find("/libc.so.6") != std::string::npos) return line.substr(at);
  }
  return "";
}

}  // namespace tgd::testing
