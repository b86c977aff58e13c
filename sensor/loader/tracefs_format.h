// Tracepoint record layouts from tracefs `format` files: Tetragon's
// tracepoint `index` is the position of a field in that file (common fields
// included), so the loader maps an index to an offset, size and type here.
#ifndef TGDISPATCH_SENSOR_LOADER_TRACEFS_FORMAT_H_
#define TGDISPATCH_SENSOR_LOADER_TRACEFS_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tgd {

struct TracepointField {
  std::string type;  // as written, e.g. "const char *", "__data_loc char[]"
  std::string name;
  uint32_t offset = 0;
  uint32_t size = 0;
  bool is_signed = false;
};

struct TracepointFormat {
  std::string name;
  uint32_t id = 0;
  std::vector<TracepointField> fields;  // in file order: index = position
};

// Parses the text of a `format` file. Errors: INVALID_ARGUMENT naming the line.
absl::StatusOr<TracepointFormat> ParseTracepointFormat(absl::string_view text);

// Reads <tracefs>/events/<subsystem>/<event>/format, mounting tracefs at
// /sys/kernel/tracing when no tracefs is mounted. Errors: NOT_FOUND naming
// the tracepoint, FAILED_PRECONDITION when tracefs is unavailable.
absl::StatusOr<TracepointFormat> ReadTracepointFormat(const std::string& subsystem,
                                                      const std::string& event);

// The same without mounting anything, for checks that run as any user
// (`policy validate --loadable`). Errors as ReadTracepointFormat, except
// UNAVAILABLE when no tracefs is mounted or this process cannot read it.
absl::StatusOr<TracepointFormat> ReadMountedTracepointFormat(const std::string& subsystem,
                                                             const std::string& event);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_TRACEFS_FORMAT_H_
