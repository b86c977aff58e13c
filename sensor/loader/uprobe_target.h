// OpenUprobeTarget: opens the binary a uprobe hook names and checks it is a
// regular ELF file, without ever blocking (a FIFO, a device or a directory is
// refused, not read). The loader attaches through the returned descriptor
// (/proc/self/fd/N), so the file checked is the file probed.
#ifndef TGDISPATCH_SENSOR_LOADER_UPROBE_TARGET_H_
#define TGDISPATCH_SENSOR_LOADER_UPROBE_TARGET_H_

#include <string>

#include "absl/status/statusor.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {

// Opens `path` read-only and non-blocking (symlinks are followed, as
// Tetragon resolves a uprobe's path). Errors, each starting with `field`
// (the policy field, e.g. "spec.uprobes[0].path") and quoting the path:
// INVALID_ARGUMENT (relative path, not a regular file: FIFO, socket,
// device, directory; or not an ELF file), NOT_FOUND / PERMISSION_DENIED /
// ... (the open's errno).
absl::StatusOr<FileDescriptor> OpenUprobeTarget(const std::string& path, const std::string& field);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_UPROBE_TARGET_H_
