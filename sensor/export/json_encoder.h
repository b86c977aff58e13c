// Protobuf-JSON encoding of Tetragon events, as Tetragon's export file and
// `tetra getevents -o json` write them (Go protojson with UseProtoNames):
// snake_case field names, enums by name, int64/uint64 as strings, wrappers as
// bare values, Timestamp as RFC 3339 with 0/3/6/9 fraction digits, defaults
// omitted, map keys sorted, fields in declaration order, one line per event.
//
// AppendMessageJson is a reflection-based encoder written for speed (the
// export path encodes every event); ReferenceMessageJson is protobuf's own
// MessageToJsonString with preserve_proto_field_names, kept as the oracle the
// tests compare against and as the fallback for types the fast path does not
// render itself (Any, FieldMask, Struct).
#ifndef TGDISPATCH_SENSOR_EXPORT_JSON_ENCODER_H_
#define TGDISPATCH_SENSOR_EXPORT_JSON_ENCODER_H_

#include <string>

#include "absl/status/status.h"
#include "api/tetragon.pb.h"
#include "google/protobuf/message.h"

namespace tgd {

// Appends the JSON form of `message` (no newline) to *out. Strings that are
// not valid UTF-8 get U+FFFD for each invalid byte (Go's protojson refuses
// them; kernel paths and arguments can hold any bytes).
// Errors: INTERNAL when the fallback encoder fails (*out is left as it was).
absl::Status AppendMessageJson(const google::protobuf::Message& message, std::string* out);

// The same output through reflection only (no typed fast paths); for tests
// that check the fast paths against it.
absl::Status AppendMessageJsonReflection(const google::protobuf::Message& message, std::string* out);

// Shared immutable processes (the process cache's): AppendMessageJson writes
// the JSON object of a registered process once and splices that text into
// every later event that points at the same object (exec, exit and policy
// events of one process repeat the same `process` and `parent`). The caller
// guarantees that `process` is not modified from RegisterSharedProcess until
// UnregisterSharedProcess, and unregisters it before destroying it. Safe to
// call from any thread.
void RegisterSharedProcess(const tetragon::Process* process);
void UnregisterSharedProcess(const tetragon::Process* process);

// The same for the sub-messages of a process that the process cache shares
// between processes (pod, cap, ns, process_credentials): their JSON is
// written once and spliced wherever a process that points at them is
// encoded. Same contract as RegisterSharedProcess.
void RegisterSharedMessage(const google::protobuf::Message* message);
void UnregisterSharedMessage(const google::protobuf::Message* message);

// protobuf's MessageToJsonString(preserve_proto_field_names). Replaces *out.
// Errors: INTERNAL with protobuf's message.
absl::Status ReferenceMessageJson(const google::protobuf::Message& message, std::string* out);

// Parses one JSON object into `message` (JsonStringToMessage; accepts proto
// and lowerCamel names, enum names or numbers). Errors: INVALID_ARGUMENT with
// protobuf's message.
absl::Status ParseMessageJson(absl::string_view json, google::protobuf::Message* message);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EXPORT_JSON_ENCODER_H_
