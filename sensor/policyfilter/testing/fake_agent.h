// FakeTetragonAgent: a stand-in for a Tetragon agent's policy filter, for
// tests and benchmarks of tgdispatch running beside one. It creates and pins
// policy_filter_maps, policy_filter_cgroup_maps and tg_cgtracker_map with
// upstream's types, flags and sizes (outer 128 policies / 1,024 cgroups,
// preallocated inner maps of 32,768 cgroups / 128 policies, tracker 16,384)
// and writes them with upstream's kernel-state semantics (pkg/policyfilter,
// current version): the all-pods entry (id 1) made once at start; every
// operation looks the outer entry up in the kernel and opens the inner map it
// finds, creates a cgroup row only when absent (insert-if-absent), deletes a
// row when its inner map is empty, and never assumes it is the only writer.
//
// Its model (what the agent believes it wrote) is Expected(); a test compares
// it with the kernel after every step.
#ifndef TGDISPATCH_SENSOR_POLICYFILTER_TESTING_FAKE_AGENT_H_
#define TGDISPATCH_SENSOR_POLICYFILTER_TESTING_FAKE_AGENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/policyfilter/filter_maps.h"

namespace tgd::testing {

struct FakeAgentOptions {
  std::string dir;         // bpffs directory for the pins (must exist)
  bool cgroup_map = true;  // --enable-policy-filter-cgroup-map
  bool cgtracker = true;   // pin tg_cgtracker_map
  bool all_pods =
      true;  // current agents; false: agents before hostSelector support
};

class FakeTetragonAgent {
 public:
  static absl::StatusOr<std::unique_ptr<FakeTetragonAgent>> Create(
      const FakeAgentOptions& o);
  ~FakeTetragonAgent();  // unpins (as the agent's release)

  // A policy selects the pods whose label "app" equals `app` (nullopt: every
  // pod); host adds the hostSelector key. Ids must be >= 2 (1 is all-pods).
  absl::Status AddPolicy(uint32_t id, std::optional<std::string> app,
                         bool host = false);
  absl::Status DelPolicy(uint32_t id);
  // A pod with one container cgroup (the agent's pod informer / OCI hook).
  absl::Status AddPod(const std::string& pod, const std::string& app,
                      uint64_t cgroup);
  absl::Status DelPod(const std::string& pod);

  // What the agent's maps must hold: its model.
  PolicyFilterContent Expected() const;
  // What they hold now.
  absl::StatusOr<PolicyFilterContent> Read() const;

  int policy_map_fd() const { return policy_map_.get(); }
  int cgroup_map_fd() const {
    return cgroup_map_.valid() ? cgroup_map_.get() : -1;
  }
  int cgtracker_fd() const {
    return cgtracker_.valid() ? cgtracker_.get() : -1;
  }
  const std::string& dir() const { return dir_; }
  bool has_policy(uint32_t id) const { return policies_.count(id) > 0; }
  bool has_pod(const std::string& pod) const { return pods_.count(pod) > 0; }

 private:
  struct Policy {
    std::optional<std::string> app;
    bool host = false;
  };
  struct Pod {
    std::string app;
    uint64_t cgroup = 0;
  };
  FakeTetragonAgent() = default;
  bool Matches(const Policy& p, const Pod& pod) const;
  // Upstream's primitives.
  absl::Status NewPolicyMap(uint32_t id, const std::set<uint64_t>& cgroups);
  absl::Status AddCgroupsToPolicy(uint32_t id,
                                  const std::set<uint64_t>& cgroups);
  absl::Status DelCgroupsFromPolicy(uint32_t id,
                                    const std::set<uint64_t>& cgroups);
  absl::Status AddPolicyIdMapping(uint32_t id, uint64_t cgroup);
  absl::Status DeletePolicyIdInCgroupMap(uint32_t id);

  std::string dir_;
  bool all_pods_ = true;
  FileDescriptor policy_map_, cgroup_map_, cgtracker_;
  std::map<uint32_t, Policy> policies_;
  std::map<std::string, Pod> pods_;
};

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_POLICYFILTER_TESTING_FAKE_AGENT_H_
