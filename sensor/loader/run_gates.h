// Gates of the run lists (bpf/dispatch/dispatch_abi.h "Gates"): which gate
// a compiled policy hook is listed with, the values its gate puts in its
// hook's union, and that union, reference-counted in the shared integer set
// (tgd_int_values, policy id TGD_GATE_POLICY). A gate lets the dispatcher
// rule out every policy gated on one kind with one lookup per event.
#ifndef TGDISPATCH_SENSOR_LOADER_RUN_GATES_H_
#define TGDISPATCH_SENSOR_LOADER_RUN_GATES_H_

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "bpf/dispatch/dispatch_abi.h"
#include "sensor/loader/compile.h"

namespace tgd {

struct RunGate {
  uint8_t kind = TGD_GATE_NONE;  // TGD_GATE_*
  std::vector<uint64_t> values;  // distinct; what the policy's sets of that kind hold
};

// The gate of a compiled policy hook: TGD_GATE_BIN when every selector has
// matchBinaries In, else TGD_GATE_PID when every selector has matchPIDs In
// without followForks and isNamespacePID, else none. None as well for a
// policy without selectors (every event matches), one with a selector flag
// or a process tracking (TGD_TRACK_*) this function does not know (a new
// clause kind may change what a selector's binary or pid means, as
// matchBinaries followChildren would: it must be added here knowingly), and one
// reading a sock or socket argument (a tracked socket makes the event its
// owner's, whose pid and binary the selectors then see). Pure.
RunGate GateOf(const CompiledHook& c);

// The unions of the hooks' gate values: (hook, kind, value) is in the
// integer set while at least one loaded policy of the hook holds it.
// Thread-safe: Remove runs on the reclaimer's thread.
class GateUnion {
 public:
  explicit GateUnion(int ints_fd) : fd_(ints_fd) {}
  GateUnion(const GateUnion&) = delete;
  GateUnion& operator=(const GateUnion&) = delete;

  // Adds a policy's gate values on hook `hook_id`, before any run list
  // names the policy. On error nothing is added. Errors: the map update's
  // errno as a status (RESOURCE_EXHAUSTED when the set is full).
  absl::Status Add(uint32_t hook_id, const RunGate& g);
  // Drops what Add added, once no event can still evaluate the policy (a
  // grace period after it left every run list): a value no other policy of
  // the hook holds leaves the set.
  void Remove(uint32_t hook_id, const RunGate& g);
  // Distinct (hook, kind, value) entries held.
  size_t size() const;

 private:
  using Key = std::tuple<uint32_t, uint32_t, uint64_t>;  // hook, kind, value
  void Drop(const Key& k) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int fd_;
  mutable absl::Mutex mu_;
  std::map<Key, uint32_t> refs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_RUN_GATES_H_
