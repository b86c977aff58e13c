// FilterIdAllocator: the policy-filter ids (keys of policy_filter_maps) given
// to scoped tracing policies.
//
// How upstream numbers policies (cilium/tetragon pkg/sensors/handler.go and
// pkg/policyfilter/common.go, read for this): the agent gives every tracing
// policy it adds an id from one counter that starts at
// FirstValidFilterPolicyID = 1 and only counts up (an id is spent even when
// the policy then fails to load, and never reused while the agent runs); a
// policy that needs filtering uses that same id as its key in
// policy_filter_maps. 0 (NoFilterPolicyID) means "not filtered". Current
// versions keep a synthetic "all pods" policy under AllPodsPolicyID = 1 and
// count tracing policies from FirstValidFilterPolicyID = 2; versions before
// the hostSelector support have none and count from 1.
//
// Beside a Tetragon agent (--tetragon-bpf-dir) tgdispatch's policies live in
// its own maps, but an id should still name one policy in tooling (the
// filter_id of ListTracingPolicies, `tetra policyfilter`): tgdispatch takes
// its ids from a range of its own, [kTetragonSideFirstFilterId,
// kLastFilterId], far above anything the agent's counter reaches, and skips
// ids present in either owner's maps.
// With its own maps alone tgdispatch counts from 2 (1 is its all-pods id).
//
// Ids only move forward: one handed out is never handed out again by the
// same allocator, also when the policy it was for failed to load, so a
// collision costs one id, not every later policy.
#ifndef TGDISPATCH_SENSOR_POLICYMGR_FILTER_IDS_H_
#define TGDISPATCH_SENSOR_POLICYMGR_FILTER_IDS_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"

namespace tgd {

inline constexpr uint32_t kOwnFirstFilterId = 2;  // 0: unfiltered, 1: all pods
inline constexpr uint32_t kTetragonSideFirstFilterId = 0x40000000;
inline constexpr uint32_t kLastFilterId = 0xfffffffe;  // 0xffffffff: kept free

class FilterIdAllocator {
 public:
  // True for an id that is taken by someone else (a key of the maps).
  using InUse = std::function<bool(uint32_t id)>;

  // Ids first..last (first >= 1), skipping those `in_use` reports.
  FilterIdAllocator(uint32_t first, uint32_t last, InUse in_use = nullptr);
  // For tgdispatch's own maps: from kOwnFirstFilterId.
  static FilterIdAllocator Own(InUse in_use = nullptr);
  // Beside a Tetragon agent: from kTetragonSideFirstFilterId.
  static FilterIdAllocator BesideTetragon(InUse in_use);

  // The next id: above every id handed out before and not in use.
  // Errors: RESOURCE_EXHAUSTED when the range is used up.
  absl::StatusOr<uint32_t> Next();

  uint32_t first() const { return first_; }

 private:
  uint32_t first_;
  uint32_t last_;
  uint64_t next_;  // 64 bits: last_ + 1 is representable
  InUse in_use_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYMGR_FILTER_IDS_H_
