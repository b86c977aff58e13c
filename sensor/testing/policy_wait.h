// Waits, with a bound, until a daemon has loaded its --policy-dir: the API
// answers before the files are loaded (they load in the background), so a
// test that checks the policies polls for the state it asserts.
#ifndef TGDISPATCH_SENSOR_TESTING_POLICY_WAIT_H_
#define TGDISPATCH_SENSOR_TESTING_POLICY_WAIT_H_

#include "absl/time/time.h"
#include "api/sensors.grpc.pb.h"

namespace tgd::testing {

// True once ListTracingPolicies lists `want` policies, none of them still
// loading (TP_STATE_LOADING) or unknown; false after `bound`.
bool WaitForPoliciesSettled(tetragon::FineGuidanceSensors::Stub* stub, int want, absl::Duration bound);

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_TESTING_POLICY_WAIT_H_
