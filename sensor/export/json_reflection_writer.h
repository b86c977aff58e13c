// The generic half of the protobuf-JSON encoder (json_encoder.h): writes any
// message through reflection (well-known types, wrappers, maps with sorted
// keys, repeated fields) and records when protobuf's own encoder must take
// over (Any, FieldMask, Struct, out-of-range Timestamp/Duration). The typed
// fast paths for Tetragon events (json_encoder.cc) derive from it.
// Internal to the json_encoder library.
#ifndef TGDISPATCH_SENSOR_EXPORT_JSON_REFLECTION_WRITER_H_
#define TGDISPATCH_SENSOR_EXPORT_JSON_REFLECTION_WRITER_H_

#include <cstdint>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace tgd {
namespace json_internal {

class JsonReflectionWriter {
 public:
  explicit JsonReflectionWriter(std::string* out) : out_(out) {}
  // Whether something was met that only the fallback encoder writes; the
  // output is then to be discarded.
  bool needs_fallback() const { return fallback_; }

  // Appends the JSON of `m` to the output.
  void WriteMessage(const google::protobuf::Message& m);

 protected:
  void WriteTimestampValue(int64_t secs, int32_t nanos);
  // The value of field `f` of `m`: a map, a list or a scalar.
  void WriteField(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f);
  void WriteScalar(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f);
  void WriteList(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f);
  // Map keys are always JSON strings; entries sorted by key as Go's
  // protojson does (protobuf C++ uses the map's iteration order).
  void WriteMap(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f);

  std::string* out_;
  std::string scratch_;
  bool fallback_ = false;

 private:
  void WriteTimestamp(const google::protobuf::Message& m);
  void WriteDuration(const google::protobuf::Message& m);
  void WriteFloat(double v, bool is_float);
  // The value's name, its number when this build does not know it, null
  // for google.protobuf.NullValue.
  void WriteEnum(const google::protobuf::EnumDescriptor* type, int number);
  void WriteString(const google::protobuf::FieldDescriptor* f, const std::string& s);
  void WriteListElement(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f, int i);
};

}  // namespace json_internal
}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EXPORT_JSON_REFLECTION_WRITER_H_
