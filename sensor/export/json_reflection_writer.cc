// The reflection writer of the protobuf-JSON encoder (see
// json_reflection_writer.h and json_encoder.h for the format).
#include "sensor/export/json_reflection_writer.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/strutil.h"
#include "sensor/export/json_text.h"

namespace tgd {
namespace json_internal {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

void JsonReflectionWriter::WriteMessage(const Message& m) {
  const Descriptor* d = m.GetDescriptor();
  switch (d->well_known_type()) {
    case Descriptor::WELLKNOWNTYPE_UNSPECIFIED:
      break;
    case Descriptor::WELLKNOWNTYPE_TIMESTAMP:
      WriteTimestamp(m);
      return;
    case Descriptor::WELLKNOWNTYPE_DURATION:
      WriteDuration(m);
      return;
    case Descriptor::WELLKNOWNTYPE_DOUBLEVALUE:
    case Descriptor::WELLKNOWNTYPE_FLOATVALUE:
    case Descriptor::WELLKNOWNTYPE_INT64VALUE:
    case Descriptor::WELLKNOWNTYPE_UINT64VALUE:
    case Descriptor::WELLKNOWNTYPE_INT32VALUE:
    case Descriptor::WELLKNOWNTYPE_UINT32VALUE:
    case Descriptor::WELLKNOWNTYPE_STRINGVALUE:
    case Descriptor::WELLKNOWNTYPE_BYTESVALUE:
    case Descriptor::WELLKNOWNTYPE_BOOLVALUE:
      WriteScalar(m, d->field(0));  // a wrapper is its bare value
      return;
    default:  // Any, FieldMask, Struct, Value, ListValue
      fallback_ = true;
      return;
  }
  const Reflection* r = m.GetReflection();
  out_->push_back('{');
  bool first = true;
  const int n = d->field_count();
  for (int i = 0; i < n; ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated()) {
      if (r->FieldSize(m, f) == 0) continue;
    } else if (!r->HasField(m, f)) {
      continue;
    }
    if (!first) out_->push_back(',');
    first = false;
    out_->push_back('"');
    out_->append(f->name());  // proto names are [A-Za-z0-9_]: no escaping
    out_->append("\":");
    WriteField(m, f);
  }
  out_->push_back('}');
}

void JsonReflectionWriter::WriteTimestamp(const Message& m) {
  const Reflection* r = m.GetReflection();
  const Descriptor* d = m.GetDescriptor();
  WriteTimestampValue(r->GetInt64(m, d->field(0)), r->GetInt32(m, d->field(1)));
}

void JsonReflectionWriter::WriteTimestampValue(int64_t secs, int32_t nanos) {
  if (secs < kMinSeconds || secs > kMaxSeconds || nanos < 0 || nanos > 999999999) {
    fallback_ = true;  // protobuf reports the error
    return;
  }
  // "YYYY-MM-DDTHH:MM:SS of the last two seconds values seen on this
  // thread (event times and start times repeat).
  struct SecondsText {
    int64_t secs = kMinSeconds - 1;
    char text[20];
  };
  thread_local SecondsText recent[2];
  thread_local unsigned next_slot = 0;
  SecondsText* hit = recent[0].secs == secs ? &recent[0] : recent[1].secs == secs ? &recent[1] : nullptr;
  if (hit == nullptr) {
    hit = &recent[next_slot];
    next_slot ^= 1;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned mo, dd;
    CivilFromDays(days, &y, &mo, &dd);
    char* t = hit->text;
    auto digits = [&t](uint64_t v, int width) {
      for (int k = width - 1; k >= 0; --k) {
        t[k] = static_cast<char>('0' + v % 10);
        v /= 10;
      }
      t += width;
    };
    *t++ = '"';
    digits(static_cast<uint64_t>(y), 4);
    *t++ = '-';
    digits(mo, 2);
    *t++ = '-';
    digits(dd, 2);
    *t++ = 'T';
    digits(rem / 3600, 2);
    *t++ = ':';
    digits(rem / 60 % 60, 2);
    *t++ = ':';
    digits(rem % 60, 2);
    hit->secs = secs;
  }
  out_->append(hit->text, 20);
  AppendNanos(nanos, out_);
  out_->append("Z\"");
}

void JsonReflectionWriter::WriteDuration(const Message& m) {
  const Reflection* r = m.GetReflection();
  const Descriptor* d = m.GetDescriptor();
  int64_t secs = r->GetInt64(m, d->field(0));
  int32_t nanos = r->GetInt32(m, d->field(1));
  if (secs < -315576000000 || secs > 315576000000 || nanos < -999999999 || nanos > 999999999 ||
      (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0)) {
    fallback_ = true;
    return;
  }
  out_->push_back('"');
  if (secs < 0 || nanos < 0) out_->push_back('-');
  absl::StrAppend(out_, secs < 0 ? -static_cast<uint64_t>(secs) : static_cast<uint64_t>(secs));
  AppendNanos(nanos < 0 ? -nanos : nanos, out_);
  out_->append("s\"");
}

void JsonReflectionWriter::WriteFloat(double v, bool is_float) {
  if (std::isnan(v)) {
    out_->append("\"NaN\"");
  } else if (std::isinf(v)) {
    out_->append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else if (is_float) {
    out_->append(google::protobuf::SimpleFtoa(static_cast<float>(v)));
  } else {
    out_->append(google::protobuf::SimpleDtoa(v));
  }
}

void JsonReflectionWriter::WriteEnum(const google::protobuf::EnumDescriptor* type, int number) {
  const google::protobuf::EnumValueDescriptor* ev = type->FindValueByNumber(number);
  if (ev == nullptr) {
    absl::StrAppend(out_, number);  // a value this build does not know
  } else if (type->full_name() == "google.protobuf.NullValue") {
    out_->append("null");
  } else if (ev->number() == number) {
    out_->push_back('"');
    out_->append(ev->name());
    out_->push_back('"');
  } else {
    absl::StrAppend(out_, number);
  }
}

void JsonReflectionWriter::WriteField(const Message& m, const FieldDescriptor* f) {
  if (f->is_map()) {
    WriteMap(m, f);
  } else if (f->is_repeated()) {
    WriteList(m, f);
  } else {
    WriteScalar(m, f);
  }
}

void JsonReflectionWriter::WriteScalar(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(out_, r->GetInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(out_, r->GetUInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(out_, "\"", r->GetInt64(m, f), "\"");
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(out_, "\"", r->GetUInt64(m, f), "\"");
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      WriteFloat(r->GetDouble(m, f), false);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      WriteFloat(r->GetFloat(m, f), true);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out_->append(r->GetBool(m, f) ? "true" : "false");
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      WriteEnum(f->enum_type(), r->GetEnumValue(m, f));
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string& s = r->GetStringReference(m, f, &scratch_);
      WriteString(f, s);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteMessage(r->GetMessage(m, f));
      break;
  }
}

void JsonReflectionWriter::WriteString(const FieldDescriptor* f, const std::string& s) {
  if (f->type() == FieldDescriptor::TYPE_BYTES) {
    out_->push_back('"');
    out_->append(absl::Base64Escape(s));
    out_->push_back('"');
  } else {
    AppendJsonString(s, out_);
  }
}

void JsonReflectionWriter::WriteListElement(const Message& m, const FieldDescriptor* f, int i) {
  const Reflection* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(out_, r->GetRepeatedInt32(m, f, i));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(out_, r->GetRepeatedUInt32(m, f, i));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(out_, "\"", r->GetRepeatedInt64(m, f, i), "\"");
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(out_, "\"", r->GetRepeatedUInt64(m, f, i), "\"");
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      WriteFloat(r->GetRepeatedDouble(m, f, i), false);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      WriteFloat(r->GetRepeatedFloat(m, f, i), true);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out_->append(r->GetRepeatedBool(m, f, i) ? "true" : "false");
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      WriteEnum(f->enum_type(), r->GetRepeatedEnumValue(m, f, i));
      break;
    case FieldDescriptor::CPPTYPE_STRING:
      WriteString(f, r->GetRepeatedStringReference(m, f, i, &scratch_));
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteMessage(r->GetRepeatedMessage(m, f, i));
      break;
  }
}

void JsonReflectionWriter::WriteList(const Message& m, const FieldDescriptor* f) {
  const int n = m.GetReflection()->FieldSize(m, f);
  out_->push_back('[');
  for (int i = 0; i < n; ++i) {
    if (i) out_->push_back(',');
    WriteListElement(m, f, i);
  }
  out_->push_back(']');
}

// Map keys are always JSON strings; entries sorted by key as Go's
// protojson does (protobuf C++ uses the map's iteration order).
void JsonReflectionWriter::WriteMap(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  const int n = r->FieldSize(m, f);
  const Descriptor* entry = f->message_type();
  const FieldDescriptor* kf = entry->map_key();
  const FieldDescriptor* vf = entry->map_value();
  std::vector<std::pair<std::string, const Message*>> entries;
  entries.reserve(n);
  for (int i = 0; i < n; ++i) {
    const Message& e = r->GetRepeatedMessage(m, f, i);
    const Reflection* er = e.GetReflection();
    std::string key;
    switch (kf->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        key = er->GetString(e, kf);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        key = er->GetBool(e, kf) ? "true" : "false";
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        key = absl::StrCat(er->GetInt32(e, kf));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        key = absl::StrCat(er->GetUInt32(e, kf));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        key = absl::StrCat(er->GetInt64(e, kf));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        key = absl::StrCat(er->GetUInt64(e, kf));
        break;
      default:
        fallback_ = true;
        return;
    }
    entries.emplace_back(std::move(key), &e);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  out_->push_back('{');
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) out_->push_back(',');
    AppendJsonString(entries[i].first, out_);
    out_->push_back(':');
    WriteScalar(*entries[i].second, vf);
  }
  out_->push_back('}');
}
}  // namespace json_internal
}  // namespace tgd
