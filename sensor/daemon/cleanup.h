// `tgdispatch cleanup`: removes what the daemon leaves on a node for an
// uninstall: the programs kept pinned (enforcing) under --bpf-dir by every
// earlier run, its policy filter pins, and the policies kept in --state-dir.
// A Tetragon agent's pins (--tetragon-bpf-dir) are never touched.
#ifndef TGDISPATCH_SENSOR_DAEMON_CLEANUP_H_
#define TGDISPATCH_SENSOR_DAEMON_CLEANUP_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace tgd {

// Refuses while a daemon holds the state dir's lock (FAILED_PRECONDITION
// naming its pid). Otherwise detaches and unpins every run's programs under
// `bpf_dir`, unpins the policy filter maps there, removes `bpf_dir` when it
// is then empty, and removes the recorded policies and `state_dir`. Writes
// one line per thing removed to `out`. Errors: INVALID_ARGUMENT (a relative
// path), the errno of a removal naming the path.
absl::Status Cleanup(const std::string& bpf_dir, const std::string& state_dir, std::ostream& out);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_DAEMON_CLEANUP_H_
