// Text pieces of the protobuf-JSON encoder (json_encoder.h): JSON string
// escaping as Go's protojson does it, and the parts of an RFC 3339 timestamp.
// Internal to the json_encoder library.
#ifndef TGDISPATCH_SENSOR_EXPORT_JSON_TEXT_H_
#define TGDISPATCH_SENSOR_EXPORT_JSON_TEXT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace tgd {
namespace json_internal {

// Appends `s` as a JSON string with Go protojson's escaping: '"', '\\' and
// control characters (short forms for \b \f \n \r \t); everything else as
// UTF-8. Each byte that does not start a valid UTF-8 sequence becomes U+FFFD.
void AppendJsonString(absl::string_view s, std::string* out);

// Days since 1970-01-01 -> civil date (proleptic Gregorian, H. Hinnant's
// algorithm).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d);

// ".123" / ".123456" / ".123456789" or nothing, as protobuf and Go do.
void AppendNanos(int32_t nanos, std::string* out);

// Valid Timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

}  // namespace json_internal
}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EXPORT_JSON_TEXT_H_
