// matchWorkloads: per-selector workload scoping (a selector's own
// podSelector / containerSelector / hostSelector).
//
// As Tetragon (pkg/selectors ParseMatchWorkloads), each selector with an
// effective matchWorkloads becomes one more policy in the policy filter
// state, with an id of its own and no namespace; a selector applies to a
// cgroup when that policy's cgroup set holds it. The dispatcher decides it
// in user space, per run list: each (hook, cgroup) run list carries, for each
// policy, the mask of its selectors that do not apply there
// (tgd_run_list.sel_skip), recomputed whenever the filter state notifies a
// change (pods, containers, policies). The datapath pays one mask test per
// selector, and nothing for a policy without matchWorkloads.
#ifndef TGDISPATCH_SENSOR_LOADER_SELECTOR_WORKLOADS_H_
#define TGDISPATCH_SENSOR_LOADER_SELECTOR_WORKLOADS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compat/policy/policy.h"
#include "sensor/loader/workload_scope.h"
#include "sensor/policyfilter/policy_filter_state.h"

namespace tgd {

// Ids of selector-level filters: a range of their own, below the ids the
// policy manager hands out beside a Tetragon agent (filter_ids.h) and far
// above those it counts from 2 with its own maps.
inline constexpr uint32_t kSelectorFirstFilterId = 0x20000000;
inline constexpr uint32_t kSelectorLastFilterId = 0x3fffffff;

// The selector-level filters of one loaded policy. Owns its entries in the
// policy filter state: deleted when destroyed, unless KeepInFilter.
class SelectorWorkloads {
 public:
  // Registers a filter for every selector of `hooks` with an effective
  // matchWorkloads (one per selector path: the hooks a `list:` call expands
  // to share theirs). `next_id` is the caller's counter in
  // [kSelectorFirstFilterId, kSelectorLastFilterId]; ids in use are skipped.
  // Errors: INVALID_ARGUMENT naming the selector's matchWorkloads field (a
  // bad label selector, a non-empty hostSelector), RESOURCE_EXHAUSTED (ids
  // or the filter maps), FAILED_PRECONDITION when `filter` is null and a
  // selector needs it.
  static absl::StatusOr<std::unique_ptr<SelectorWorkloads>> Create(PolicyFilterState* filter,
                                                                   const std::vector<policy::Hook>& hooks,
                                                                   std::atomic<uint32_t>* next_id);
  ~SelectorWorkloads();
  SelectorWorkloads(const SelectorWorkloads&) = delete;
  SelectorWorkloads& operator=(const SelectorWorkloads&) = delete;

  // The filter id of selector `index` of the hook at `hook_path`
  // ("spec.kprobes[0]"), 0 when it has none.
  uint32_t IdOf(const std::string& hook_path, size_t index) const;
  bool empty() const { return by_path_.empty(); }
  std::vector<uint32_t> ids() const;
  // At shutdown with our own filter maps: they go with the daemon.
  void KeepInFilter() { keep_ = true; }

 private:
  explicit SelectorWorkloads(PolicyFilterState* filter) : filter_(filter) {}
  PolicyFilterState* filter_;
  std::map<std::string, uint32_t> by_path_;  // selector path -> filter id
  bool keep_ = false;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_SELECTOR_WORKLOADS_H_
