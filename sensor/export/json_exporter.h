// JsonExporter: Tetragon's JSON export file. Subscribes to the EventBus with
// a bounded queue of its own, keeps the events its allow/deny filters pass,
// and writes each as one protobuf-JSON GetEventsResponse line to a
// RotatingFile on a thread of its own. It never blocks publishers: when it
// falls behind, the bus drops its oldest-unread events and counts them
// (stats().dropped).
#ifndef TGDISPATCH_SENSOR_EXPORT_JSON_EXPORTER_H_
#define TGDISPATCH_SENSOR_EXPORT_JSON_EXPORTER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/events.pb.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/eventfilter/event_filter.h"
#include "sensor/export/rotating_file.h"

namespace tgd {

// Parses Tetragon's --export-allowlist / --export-denylist syntax: a sequence
// of JSON tetragon.Filter objects separated by whitespace (one per line is
// usual), e.g. `{"event_set":["PROCESS_EXEC"]} {"binary_regex":["^/usr/"]}`.
// Field names may be snake_case or lowerCamel, enums names or numbers.
// Errors: INVALID_ARGUMENT naming `flag`, the filter's position and the
// reason.
absl::StatusOr<google::protobuf::RepeatedPtrField<tetragon::Filter>> ParseFilterList(
    absl::string_view text, absl::string_view flag);

struct JsonExporterOptions {
  RotatingFileOptions file;
  std::string allowlist;  // --export-allowlist text
  std::string denylist;   // --export-denylist text
  size_t queue_capacity = 65536;  // events buffered before drops
};

class JsonExporter {
 public:
  struct Stats {
    uint64_t exported = 0;       // lines written (or buffered for writing)
    uint64_t filtered = 0;       // events the allow/deny lists removed
    uint64_t dropped = 0;        // events lost because the exporter fell behind
    uint64_t encode_errors = 0;
    uint64_t write_errors = 0;
    uint64_t rotations = 0;
  };

  // Parses the filters, opens the file and starts the writer thread.
  // Errors: INVALID_ARGUMENT (filters: "--export-allowlist: filter 2: ...";
  // file: path is a directory), or the errno of opening the file.
  static absl::StatusOr<std::unique_ptr<JsonExporter>> Start(EventBus* bus, JsonExporterOptions opts);
  ~JsonExporter();  // Stop()
  JsonExporter(const JsonExporter&) = delete;
  JsonExporter& operator=(const JsonExporter&) = delete;

  // Writes what is already queued, flushes and stops. Idempotent. Returns
  // promptly also when the bus was closed.
  void Stop();
  Stats stats() const;

 private:
  JsonExporter(EventBus* bus, EventFilter filter, std::unique_ptr<RotatingFile> file,
               std::unique_ptr<EventBus::Subscription> sub)
      : bus_(bus), filter_(std::move(filter)), file_(std::move(file)), sub_(std::move(sub)) {}
  void Run();
  void Export(const tetragon::GetEventsResponse& ev, std::string* line);

  EventBus* bus_;
  EventFilter filter_;
  std::unique_ptr<RotatingFile> file_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> exported_{0}, filtered_{0}, encode_errors_{0}, write_errors_{0},
      rotations_{0};
  std::thread thread_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EXPORT_JSON_EXPORTER_H_
