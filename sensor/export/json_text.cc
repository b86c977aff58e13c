// JSON string escaping and timestamp text pieces (see json_text.h).
#include "sensor/export/json_text.h"

#include <cstring>

namespace tgd {
namespace json_internal {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// 1 for bytes that need more than a copy: control characters, '"', '\\'
// and every non-ASCII byte (UTF-8 validation).
struct SpecialBytes {
  bool v[256];
  constexpr SpecialBytes() : v() {
    for (int c = 0; c < 256; ++c) v[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
  }
};
constexpr SpecialBytes kSpecial;

void AppendDigits(uint64_t v, int width, std::string* out) {
  char buf[20];
  for (int k = width - 1; k >= 0; --k) {
    buf[k] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out->append(buf, width);
}

}  // namespace

// Appends `s` as a JSON string with Go protojson's escaping: '"', '\\' and
// control characters (short forms for \b \f \n \r \t); everything else as
// UTF-8. Each byte that does not start a valid UTF-8 sequence becomes U+FFFD.
void AppendJsonString(absl::string_view s, std::string* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n && !kSpecial.v[p[i]]) ++i;
  if (i == n) {  // the common case: plain ASCII
    const size_t at = out->size();
    out->resize(at + n + 2);
    char* d = out->data() + at;
    d[0] = '"';
    memcpy(d + 1, s.data(), n);
    d[n + 1] = '"';
    return;
  }
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes copied verbatim
  auto flush = [&](size_t end) {
    if (end > run) out->append(s.data() + run, end - run);
  };
  while (i < n) {
    unsigned char c = p[i];
    if (!kSpecial.v[c]) {
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

}  // namespace json_internal
}  // namespace tgd
