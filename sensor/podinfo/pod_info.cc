// Pod info on events.
#include "sensor/podinfo/pod_info.h"

namespace tgd {

WorkloadRef WorkloadOfPod(const PodInfo& pod) { return WorkloadRef{pod.name, "Pod"}; }

void FillPod(const PodContainer& pc, tetragon::Pod* out) {
  out->Clear();
  out->set_namespace_(pc.pod.ns);
  out->set_name(pc.pod.name);
  out->set_uid(pc.pod.uid);
  for (const auto& [k, v] : pc.pod.labels) (*out->mutable_pod_labels())[k] = v;
  WorkloadRef w = WorkloadOfPod(pc.pod);
  out->set_workload(w.name);
  out->set_workload_kind(w.kind);
  tetragon::Container* c = out->mutable_container();
  c->set_id(pc.container.id);
  c->set_name(pc.container.name);
  c->mutable_image()->set_name(pc.container.image.empty() ? pc.container.repo : pc.container.image);
  c->set_maybe_exec_probe(false);
  c->mutable_security_context();  // Tetragon always sets it (privileged: false here)
}

ProcessEnricher MakePodEnricher(const PolicyFilterState* state) {
  if (state == nullptr) return nullptr;
  return [state](uint64_t cgroup_id, tetragon::Process* process) {
    if (cgroup_id == 0 || process == nullptr) return;
    std::optional<PodContainer> pc = state->PodOfCgroup(cgroup_id);
    if (!pc.has_value()) return;
    FillPod(*pc, process->mutable_pod());
    process->set_docker(pc->container.id.substr(0, kDockerIdLength));
  };
}

}  // namespace tgd
