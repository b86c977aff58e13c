// Converts errno values (from syscalls or libbpf's negative returns) into
// absl::Status with a message that names the operation.
#ifndef TGDISPATCH_SENSOR_BASE_ERRNO_STATUS_H_
#define TGDISPATCH_SENSOR_BASE_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tgd {

// Returns a non-OK status for `err` (positive or negative errno) whose code
// follows absl::ErrnoToStatusCode and whose message is "<what>: <strerror>".
absl::Status ErrnoStatus(int err, absl::string_view what);

// For libbpf calls that return 0 / -errno: OK for ret >= 0, else ErrnoStatus.
absl::Status LibbpfStatus(int ret, absl::string_view what);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BASE_ERRNO_STATUS_H_
