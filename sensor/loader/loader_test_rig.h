// Shared setup of the loader root tests (tests only): an in-memory policy
// filter with pods in real cgroups, the loader under test on an event bus,
// and the C library's path for uprobe tests.
#ifndef TGDISPATCH_SENSOR_LOADER_LOADER_TEST_RIG_H_
#define TGDISPATCH_SENSOR_LOADER_LOADER_TEST_RIG_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/policyfilter/policy_filter_state.h"
#include "sensor/testing/cgroup.h"

namespace tgd::testing {

// A policy filter without BPF maps (they have their own tests; here the run
// lists derived from it are what matters).
absl::StatusOr<std::unique_ptr<PolicyFilterState>> InMemoryPolicyFilter();

// Registers pod "default/pod-<app>" (uid "uid-<app>", label app=<app>) with
// one container "cont-<app>" in a new test cgroup named `cgroup`.
absl::StatusOr<std::unique_ptr<TestCgroup>> AddTestPod(PolicyFilterState* filter, const std::string& app,
                                                       const std::string& cgroup);

// An in-memory policy filter with two test pods, app=a in cgroup
// "<prefix>-a" and app=b in "<prefix>-b" (AddTestPod): what most loader
// root tests start from.
struct PodsAB {
  std::unique_ptr<PolicyFilterState> filter;
  std::unique_ptr<TestCgroup> a, b;
};
absl::StatusOr<PodsAB> FilterWithPodsAB(const std::string& cgroup_prefix);

// Why the syscall tracepoints cannot be used here ("": they can): tracefs
// is not mounted.
std::string SyscallTracepointsSkipReason();

// The same with one test pod, app=<app> in cgroup `cgroup`.
struct OnePod {
  std::unique_ptr<PolicyFilterState> filter;
  std::unique_ptr<TestCgroup> cg;
};
absl::StatusOr<OnePod> FilterWithPod(const std::string& app, const std::string& cgroup);

// A private copy of the file `src` (mode 0755) at "/tmp/<name>-<pid>": a
// uprobe attaches to that inode only, so no other test's runs hit it.
absl::StatusOr<std::string> PrivateCopy(const std::string& src, const std::string& name);

// The loader under test, "dispatch" or "per-policy", on `bus` and `filter`
// (node "test-node", ring buffer reader not started: tests poll); the other
// fields of `o` are kept.
absl::StatusOr<std::unique_ptr<DispatchBackend>> CreateTestBackend(const std::string& loader, EventBus* bus,
                                                                   PolicyFilterState* filter,
                                                                   DispatchOptions o = {});

// Runs `fn` in a child in `cg`, waits for it and expects it to exit 0
// (gtest failures otherwise).
void RunInCgroupExpectExit0(TestCgroup& cg, std::function<int()> fn);

// The arguments of the process_tracepoint events of `backend` delivered to
// `sub`, per policy name: Of() polls the ring buffer, drains the
// subscription, and returns every event of that policy collected so far
// (all policies' events are kept at once).
class TracepointArgsByPolicy {
 public:
  TracepointArgsByPolicy(DispatchBackend* backend, EventBus::Subscription* sub) : backend_(backend), sub_(sub) {}
  const std::vector<std::vector<tetragon::KprobeArgument>>& Of(const std::string& policy);

 private:
  DispatchBackend* const backend_;
  EventBus::Subscription* const sub_;
  std::map<std::string, std::vector<std::vector<tetragon::KprobeArgument>>> got_;
};

// The C library this process runs with (uprobes attach to its inode); ""
// when none is mapped.
std::string LibcPath();

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_LOADER_LOADER_TEST_RIG_H_
