// FieldFilters implementation over protobuf reflection.
#include "sensor/eventfilter/field_filter.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/field_mask_util.h"
#include "sensor/eventfilter/event_access.h"

namespace tgd {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::FieldMaskUtil;

bool IsValidPath(const Descriptor* d, const std::string& path) {
  return FieldMaskUtil::GetFieldDescriptors(d, path, nullptr);
}

bool AppliesTo(const tetragon::FieldFilter& f, tetragon::EventType type) {
  bool in_set = f.event_set().empty() ||
                std::find(f.event_set().begin(), f.event_set().end(), type) != f.event_set().end();
  return f.invert_event_set().value() ? !in_set : in_set;
}

// Clears the field at `path` (dot-separated) in `msg`, descending through
// singular and repeated message fields.
void ClearPath(Message* msg, const std::vector<std::string>& parts, size_t i) {
  const FieldDescriptor* fd = msg->GetDescriptor()->FindFieldByName(parts[i]);
  if (fd == nullptr) return;
  const auto* refl = msg->GetReflection();
  if (i + 1 == parts.size()) {
    refl->ClearField(msg, fd);
    return;
  }
  if (fd->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return;
  if (fd->is_repeated()) {
    for (int k = 0; k < refl->FieldSize(*msg, fd); ++k) {
      ClearPath(refl->MutableRepeatedMessage(msg, fd, k), parts, i + 1);
    }
  } else if (refl->HasField(*msg, fd)) {
    ClearPath(refl->MutableMessage(msg, fd), parts, i + 1);
  }
}

}  // namespace

absl::StatusOr<FieldFilters> FieldFilters::Create(
    const google::protobuf::RepeatedPtrField<tetragon::FieldFilter>& filters) {
  FieldFilters out;
  const Descriptor* resp = tetragon::GetEventsResponse::descriptor();
  const auto* oneof = resp->FindOneofByName("event");
  for (int i = 0; i < filters.size(); ++i) {
    const tetragon::FieldFilter& f = filters[i];
    for (int p = 0; p < f.fields().paths_size(); ++p) {
      const std::string& path = f.fields().paths(p);
      bool valid_somewhere = false;
      for (int k = 0; k < oneof->field_count(); ++k) {
        const FieldDescriptor* ev = oneof->field(k);
        if (!AppliesTo(f, static_cast<tetragon::EventType>(ev->number()))) continue;
        if (IsValidPath(ev->message_type(), path)) valid_somewhere = true;
      }
      if (!valid_somewhere) {
        return absl::InvalidArgumentError(
            absl::StrCat("field_filters[", i, "].fields.paths[", p, "]: \"", path,
                         "\" is not a field of any event type this filter applies to"));
      }
    }
    out.filters_.push_back(f);
  }
  return out;
}

void FieldFilters::Apply(tetragon::GetEventsResponse* event) const {
  Message* inner = MutableInnerEvent(event);
  if (inner == nullptr) return;
  tetragon::EventType type = EventTypeOf(*event);
  // Includes: keep only the union of the applicable include masks' valid paths.
  google::protobuf::FieldMask include;
  bool any_include = false;
  for (const auto& f : filters_) {
    if (f.action() != tetragon::INCLUDE || !AppliesTo(f, type)) continue;
    any_include = true;
    for (const std::string& path : f.fields().paths()) {
      if (IsValidPath(inner->GetDescriptor(), path)) include.add_paths(path);
    }
  }
  if (any_include) FieldMaskUtil::TrimMessage(include, inner);
  for (const auto& f : filters_) {
    if (f.action() != tetragon::EXCLUDE || !AppliesTo(f, type)) continue;
    for (const std::string& path : f.fields().paths()) {
      std::vector<std::string> parts = absl::StrSplit(path, '.');
      ClearPath(inner, parts, 0);
    }
  }
}

}  // namespace tgd
