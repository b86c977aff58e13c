// Reflection-based protobuf-JSON encoder (see json_encoder.h for the format).
#include "sensor/export/json_encoder.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/strutil.h"
#include "google/protobuf/util/json_util.h"

namespace tgd {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr char kHex[] = "0123456789abcdef";

// Appends `s` as a JSON string with Go protojson's escaping: '"', '\\' and
// control characters (short forms for \b \f \n \r \t); everything else as
// UTF-8. Each byte that does not start a valid UTF-8 sequence becomes U+FFFD.
void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t run = 0;  // start of the pending run of bytes copied verbatim
  size_t i = 0;
  auto flush = [&](size_t end) {
    if (end > run) out->append(s.data() + run, end - run);
  };
  while (i < n) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c < 0x80) {
      flush(i);
      out->push_back('\\');
      switch (c) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '\b': out->push_back('b'); break;
        case '\f': out->push_back('f'); break;
        case '\n': out->push_back('n'); break;
        case '\r': out->push_back('r'); break;
        case '\t': out->push_back('t'); break;
        default:
          out->append("u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
      }
      run = ++i;
      continue;
    }
    // Multi-byte UTF-8: validate (no overlongs, no surrogates, <= U+10FFFF).
    size_t len = 0;
    uint32_t min = 0, cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (p[i + k] & 0x3f);
      }
    }
    ok = ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    if (ok) {
      i += len;
      continue;
    }
    flush(i);
    out->append("\xef\xbf\xbd");  // U+FFFD
    run = ++i;
  }
  flush(n);
  out->push_back('"');
}

// Days since 1970-01-01 -> civil date (proleptic Gregorian, H. Hinnant's
// algorithm).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

void AppendDigits(uint64_t v, int width, std::string* out) {
  char buf[20];
  for (int k = width - 1; k >= 0; --k) {
    buf[k] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out->append(buf, width);
}

// ".123" / ".123456" / ".123456789" or nothing, as protobuf and Go do.
void AppendNanos(int32_t nanos, std::string* out) {
  if (nanos == 0) return;
  out->push_back('.');
  if (nanos % 1000000 == 0) {
    AppendDigits(nanos / 1000000, 3, out);
  } else if (nanos % 1000 == 0) {
    AppendDigits(nanos / 1000, 6, out);
  } else {
    AppendDigits(nanos, 9, out);
  }
}

// Valid Timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  bool needs_fallback() const { return fallback_; }

  void WriteMessage(const Message& m) {
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
      if (f->is_map()) {
        WriteMap(m, f);
      } else if (f->is_repeated()) {
        WriteList(m, f);
      } else {
        WriteScalar(m, f);
      }
    }
    out_->push_back('}');
  }

 private:
  void WriteTimestamp(const Message& m) {
    const Reflection* r = m.GetReflection();
    const Descriptor* d = m.GetDescriptor();
    int64_t secs = r->GetInt64(m, d->field(0));
    int32_t nanos = r->GetInt32(m, d->field(1));
    if (secs < kMinSeconds || secs > kMaxSeconds || nanos < 0 || nanos > 999999999) {
      fallback_ = true;  // protobuf reports the error
      return;
    }
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned mo, dd;
    CivilFromDays(days, &y, &mo, &dd);
    out_->push_back('"');
    AppendDigits(static_cast<uint64_t>(y), 4, out_);
    out_->push_back('-');
    AppendDigits(mo, 2, out_);
    out_->push_back('-');
    AppendDigits(dd, 2, out_);
    out_->push_back('T');
    AppendDigits(rem / 3600, 2, out_);
    out_->push_back(':');
    AppendDigits(rem / 60 % 60, 2, out_);
    out_->push_back(':');
    AppendDigits(rem % 60, 2, out_);
    AppendNanos(nanos, out_);
    out_->append("Z\"");
  }

  void WriteDuration(const Message& m) {
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

  void WriteFloat(double v, bool is_float) {
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

  void WriteEnum(const google::protobuf::EnumValueDescriptor* ev, int number) {
    if (ev->type()->full_name() == "google.protobuf.NullValue") {
      out_->append("null");
    } else if (ev != nullptr && ev->number() == number) {
      out_->push_back('"');
      out_->append(ev->name());
      out_->push_back('"');
    } else {
      absl::StrAppend(out_, number);
    }
  }

  void WriteScalar(const Message& m, const FieldDescriptor* f) {
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
      case FieldDescriptor::CPPTYPE_ENUM: {
        int v = r->GetEnumValue(m, f);
        const auto* ev = f->enum_type()->FindValueByNumber(v);
        if (ev == nullptr) {
          absl::StrAppend(out_, v);
        } else {
          WriteEnum(ev, v);
        }
        break;
      }
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

  void WriteString(const FieldDescriptor* f, const std::string& s) {
    if (f->type() == FieldDescriptor::TYPE_BYTES) {
      out_->push_back('"');
      out_->append(absl::Base64Escape(s));
      out_->push_back('"');
    } else {
      AppendJsonString(s, out_);
    }
  }

  void WriteListElement(const Message& m, const FieldDescriptor* f, int i) {
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
      case FieldDescriptor::CPPTYPE_ENUM: {
        int v = r->GetRepeatedEnumValue(m, f, i);
        const auto* ev = f->enum_type()->FindValueByNumber(v);
        if (ev == nullptr) {
          absl::StrAppend(out_, v);
        } else {
          WriteEnum(ev, v);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        WriteString(f, r->GetRepeatedStringReference(m, f, i, &scratch_));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        WriteMessage(r->GetRepeatedMessage(m, f, i));
        break;
    }
  }

  void WriteList(const Message& m, const FieldDescriptor* f) {
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
  void WriteMap(const Message& m, const FieldDescriptor* f) {
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

  std::string* out_;
  std::string scratch_;
  bool fallback_ = false;
};

}  // namespace

absl::Status ReferenceMessageJson(const google::protobuf::Message& message, std::string* out) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  out->clear();
  auto st = google::protobuf::util::MessageToJsonString(message, out, opts);
  if (!st.ok()) {
    return absl::InternalError(
        absl::StrCat("JSON encoding of ", message.GetDescriptor()->full_name(), ": ",
                     std::string(st.message().data(), st.message().size())));
  }
  return absl::OkStatus();
}

absl::Status AppendMessageJson(const google::protobuf::Message& message, std::string* out) {
  const size_t start = out->size();
  Writer w(out);
  w.WriteMessage(message);
  if (!w.needs_fallback()) return absl::OkStatus();
  out->resize(start);
  std::string json;
  absl::Status st = ReferenceMessageJson(message, &json);
  if (!st.ok()) return st;
  out->append(json);
  return absl::OkStatus();
}

absl::Status ParseMessageJson(absl::string_view json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions opts;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, opts);
  if (!st.ok()) {
    return absl::InvalidArgumentError(std::string(st.message().data(), st.message().size()));
  }
  return absl::OkStatus();
}

}  // namespace tgd
