// Pod info on events: fills tetragon.Pod (the `pod` field of a Process) from
// the workload registry's pod and container, as Tetragon's agent does from
// its pod watcher, and builds the enrich callback the process sensor and the
// dispatch loader take (cgroup id -> pod of that cgroup, if any).
#ifndef TGDISPATCH_SENSOR_PODINFO_POD_INFO_H_
#define TGDISPATCH_SENSOR_PODINFO_POD_INFO_H_

#include <cstdint>
#include <functional>
#include <string>

#include "api/tetragon.pb.h"
#include "sensor/policyfilter/policy_filter_state.h"

namespace tgd {

struct WorkloadRef {
  std::string name;
  std::string kind;
};

// The workload Tetragon reports for a pod it cannot attribute to a
// controller (no owner reference, which the registry never has): the pod
// itself, kind "Pod".
WorkloadRef WorkloadOfPod(const PodInfo& pod);

// Replaces *out with the pod and container as Tetragon reports them:
// namespace, name, uid, pod_labels, workload, workload_kind, and container
// {id, name, image {name: the full reference, else the repository},
// security_context {} }. Not known to the registry, so left unset:
// image.id (digest), container.start_time, container.pid (pid in the
// container's pid namespace), pod_annotations; maybe_exec_probe is false
// (no probe specs).
void FillPod(const PodContainer& pc, tetragon::Pod* out);

using ProcessEnricher = std::function<void(uint64_t cgroup_id, tetragon::Process* process)>;

// Tetragon's process.docker: the first 31 characters of the container id
// (what its BPF side reads from the cgroup name).
inline constexpr size_t kDockerIdLength = 31;

// For ProcessSensorOptions::enrich and DispatchOptions::enrich: sets
// process->pod and process->docker (the container id, kDockerIdLength
// characters) when `cgroup_id` is a pod container's cgroup (or a sub-cgroup
// of one) and leaves the process untouched otherwise. `state` must outlive
// the callback; a null state gives an empty (unset) callback.
ProcessEnricher MakePodEnricher(const PolicyFilterState* state);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_PODINFO_POD_INFO_H_
