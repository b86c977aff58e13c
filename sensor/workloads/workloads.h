// Workload sources for the policy filter: a workloads file (YAML: pods with
// namespace, name, uid, labels and containers with cgroup paths), reloaded on
// demand and when it changes, and Tetragon's RuntimeHook CreateContainer
// requests (an OCI hook reporting containers as they are created).
//
// File format (see testdata/workloads/demo.yaml):
//   pods:
//     - namespace: default        # default "default"
//       name: pod-a               # required
//       uid: <string>             # default: derived from namespace/name
//       labels: {app: a}
//       containers:
//         - name: main            # required
//           id: <string>          # default: <namespace>-<pod>-<name>
//           image: repo:tag       # optional (containerSelector "repo")
//           cgroupPath: /x/y      # relative to the cgroup v2 mount, or absolute under it
//           create: true          # mkdir it if missing; removed at shutdown if empty
#ifndef TGDISPATCH_SENSOR_WORKLOADS_WORKLOADS_H_
#define TGDISPATCH_SENSOR_WORKLOADS_WORKLOADS_H_

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/tetragon.pb.h"
#include "compat/labels/label_selector.h"
#include "sensor/policyfilter/policy_filter_state.h"

namespace tgd {

// The embedded default workloads file (testdata/workloads/demo.yaml).
extern const char kDemoWorkloadsYaml[];

struct WorkloadContainer {
  std::string name, id, image, cgroup_path;
  bool create = false;
};

struct WorkloadPod {
  std::string ns = "default", name, uid;
  labels::Labels labels;
  std::vector<WorkloadContainer> containers;
};

// Parses a workloads file. Errors: INVALID_ARGUMENT naming the source, the
// field ("pods[1].containers[0].cgroupPath") and the reason.
absl::StatusOr<std::vector<WorkloadPod>> ParseWorkloads(absl::string_view yaml,
                                                        absl::string_view source);

// Reads and parses a workloads file (no cgroup is looked at). Errors: the
// errno of stat/read (NOT_FOUND, PERMISSION_DENIED, ...) naming the file,
// those of ParseWorkloads.
absl::StatusOr<std::vector<WorkloadPod>> ReadWorkloadsFile(const std::string& path);

// A stable pod uid (UUID-shaped) for a pod without one.
std::string DerivedPodUid(absl::string_view ns, absl::string_view name);

// Resolves a cgroup path (relative to `cgroup_root`, or absolute under it) to
// an absolute, normalized directory. Errors: INVALID_ARGUMENT when it is empty
// or resolves outside the mount.
absl::StatusOr<std::string> ResolveCgroupPath(const std::string& cgroup_root,
                                              const std::string& path);

// The repository part of an image reference ("repo:tag" -> "repo"), as
// Tetragon's containerSelector field "repo".
std::string ImageRepo(absl::string_view image);

struct WorkloadSourceOptions {
  std::string path;          // workloads file; empty: the embedded demo
  std::string cgroup_root;   // default: the cgroup v2 mount
  absl::Duration poll_interval = absl::Seconds(2);
};

class WorkloadSource {
 public:
  // Loads the file once into `state` (which must outlive this object).
  // Errors: those of Reload().
  static absl::StatusOr<std::unique_ptr<WorkloadSource>> Create(PolicyFilterState* state,
                                                                const WorkloadSourceOptions& options);
  // Stops polling; removes the cgroups it created that are empty.
  ~WorkloadSource();

  // Re-reads the file and applies the difference (UpdatePod for pods in the
  // file, DelPod for file pods that are gone). A file that does not parse
  // changes nothing. Containers whose cgroup cannot be resolved are skipped
  // with a counted warning; so are pods without containers (registered,
  // with no cgroups). RuntimeHook containers survive a reload: a file pod
  // with the same uid keeps them (its update lists file and hook
  // containers); a hook pod known to the file by namespace/name gets the
  // file's current labels; a hook pod the file no longer lists keeps its
  // containers, with no labels.
  absl::Status Reload();
  // Reloads when the file's mtime/size changed; drops RuntimeHook containers
  // whose cgroup is gone; rescans sub-cgroups if the tracker program is off.
  absl::Status PollOnce();
  // Runs PollOnce every poll_interval on a thread until destruction.
  void StartPolling();

  // CreateContainer: cgroupsPath resolved against the cgroup v2 mount
  // (cgroupfs paths and systemd "slice:prefix:id" forms), pod uid/name/
  // namespace, container id/name/image; labels from the workloads file when
  // it knows the pod (by uid, else namespace/name).
  // Errors: INVALID_ARGUMENT (missing event or fields, path outside the
  // mount), NOT_FOUND (no such cgroup), those of AddPodContainer.
  absl::Status HandleRuntimeHook(const tetragon::RuntimeHookRequest& request);

  int warning_count() const;
  std::vector<std::string> last_warnings() const;
  const std::string& cgroup_root() const { return cgroup_root_; }

 private:
  // A pod as RuntimeHook requests made it: its info (labels as last taken
  // from the file) and the containers the hook added.
  struct HookPod {
    PodInfo info;
    std::vector<ContainerInfo> containers;
  };
  WorkloadSource(PolicyFilterState* state, WorkloadSourceOptions o) : state_(state), opts_(std::move(o)) {}
  void Warn(std::string w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The file pod a hook pod is: by uid, else by namespace/name; null if none.
  const WorkloadPod* FilePodOf(const PodInfo& hook_pod) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Re-registers the hook pods after the file pods changed (labels from the
  // file; the containers of a file pod that is gone).
  void SyncHookPods(absl::string_view source, const std::set<std::string>& gone_file_pods,
                    absl::Status* first_error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MkdirTracked(const std::string& dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  PolicyFilterState* state_;
  WorkloadSourceOptions opts_;
  std::string cgroup_root_;
  mutable absl::Mutex mu_;
  std::map<std::string, WorkloadPod> file_pods_ ABSL_GUARDED_BY(mu_);  // by uid
  std::map<std::string, HookPod> hook_pods_ ABSL_GUARDED_BY(mu_);  // by uid
  std::vector<std::string> created_dirs_ ABSL_GUARDED_BY(mu_);  // in creation order
  int warnings_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> last_warnings_ ABSL_GUARDED_BY(mu_);
  struct timespec mtime_ ABSL_GUARDED_BY(mu_) = {};
  off_t size_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread poller_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_WORKLOADS_WORKLOADS_H_
