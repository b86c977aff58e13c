// JsonExporter implementation.
#include "sensor/export/json_exporter.h"

#include <glog/logging.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "sensor/export/json_encoder.h"

namespace tgd {
namespace {

// Splits `text` into top-level JSON values (objects expected), as Go's
// json.Decoder reads a stream: values separated by whitespace.
absl::StatusOr<std::vector<absl::string_view>> SplitJsonObjects(absl::string_view text,
                                                                absl::string_view flag) {
  std::vector<absl::string_view> out;
  size_t i = 0;
  while (true) {
    while (i < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) break;
    if (text[i] != '{') {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": filter ", out.size() + 1, " at byte ", i,
          ": want a JSON object such as {\"event_set\":[\"PROCESS_EXEC\"]}, got '", text.substr(i, 1),
          "'"));
    }
    size_t start = i;
    int depth = 0;
    bool in_string = false;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) break;
      }
    }
    if (i >= text.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": filter ", out.size() + 1, ": unterminated JSON object"));
    }
    out.push_back(text.substr(start, i + 1 - start));
    ++i;
  }
  return out;
}

}  // namespace

absl::StatusOr<google::protobuf::RepeatedPtrField<tetragon::Filter>> ParseFilterList(
    absl::string_view text, absl::string_view flag) {
  auto objects = SplitJsonObjects(text, flag);
  if (!objects.ok()) return objects.status();
  google::protobuf::RepeatedPtrField<tetragon::Filter> filters;
  for (size_t i = 0; i < objects->size(); ++i) {
    absl::Status st = ParseMessageJson((*objects)[i], filters.Add());
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": filter ", i + 1, " (", (*objects)[i], "): ", st.message()));
    }
  }
  return filters;
}

absl::StatusOr<std::unique_ptr<JsonExporter>> JsonExporter::Start(EventBus* bus,
                                                                  JsonExporterOptions opts) {
  if (bus == nullptr) return absl::InvalidArgumentError("JsonExporter needs an event bus");
  auto allow = ParseFilterList(opts.allowlist, "--export-allowlist");
  if (!allow.ok()) return allow.status();
  auto deny = ParseFilterList(opts.denylist, "--export-denylist");
  if (!deny.ok()) return deny.status();
  auto filter = EventFilter::Create(*allow, *deny);
  if (!filter.ok()) {
    // EventFilter names the list as allow_list[i] / deny_list[i].
    return absl::InvalidArgumentError(
        absl::StrCat("--export-allowlist/--export-denylist: ", filter.status().message()));
  }
  auto file = RotatingFile::Open(opts.file);
  if (!file.ok()) return file.status();
  auto sub = bus->Subscribe(opts.queue_capacity);
  auto e = std::unique_ptr<JsonExporter>(
      new JsonExporter(bus, *std::move(filter), *std::move(file), std::move(sub)));
  e->thread_ = std::thread([p = e.get()] { p->Run(); });
  return e;
}

void JsonExporter::Export(const tetragon::GetEventsResponse& ev, std::string* line) {
  if (!filter_.Allows(ev)) {
    filtered_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  line->clear();
  absl::Status st = AppendMessageJson(ev, line);
  if (!st.ok()) {
    if (encode_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
      LOG(WARNING) << "export: cannot encode an event (further errors counted only): " << st;
    }
    return;
  }
  st = file_->AppendLine(*line);
  if (!st.ok()) {
    if (write_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
      LOG(WARNING) << "export: " << st << " (further errors counted only)";
    }
    return;
  }
  exported_.fetch_add(1, std::memory_order_relaxed);
  rotations_.store(file_->rotations(), std::memory_order_relaxed);
}

void JsonExporter::Run() {
  std::string line;
  EventBus::Event ev;
  auto flush = [this] {
    absl::Status st = file_->Flush();
    if (!st.ok() && write_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
      LOG(WARNING) << "export: " << st << " (further errors counted only)";
    }
    rotations_.store(file_->rotations(), std::memory_order_relaxed);
  };
  for (;;) {
    // Drain what is queued without waiting; write out when idle.
    if (sub_->Next(&ev, absl::InfinitePast())) {
      Export(*ev, &line);
      ev.reset();
      continue;
    }
    flush();
    if (stop_.load() || bus_->closed()) {
      // Nothing more can be queued after Close; after Stop, what is queued
      // now is still written.
      while (sub_->Next(&ev, absl::InfinitePast())) Export(*ev, &line);
      break;
    }
    if (sub_->Next(&ev, absl::Now() + absl::Milliseconds(100))) {
      Export(*ev, &line);
      ev.reset();
    }
  }
  flush();
}

void JsonExporter::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

JsonExporter::~JsonExporter() { Stop(); }

JsonExporter::Stats JsonExporter::stats() const {
  Stats s;
  s.exported = exported_.load(std::memory_order_relaxed);
  s.filtered = filtered_.load(std::memory_order_relaxed);
  s.dropped = sub_->dropped();
  s.encode_errors = encode_errors_.load(std::memory_order_relaxed);
  s.write_errors = write_errors_.load(std::memory_order_relaxed);
  s.rotations = rotations_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace tgd
