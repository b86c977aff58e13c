// InMap / NotInMap value sets (see in_map.h).
#include "sensor/loader/in_map.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tgd {
namespace {

bool ParseDecimal(absl::string_view s, bool is_signed, uint64_t* out) {
  if (is_signed) {
    int64_t v;
    if (!absl::SimpleAtoi(s, &v)) return false;
    *out = static_cast<uint64_t>(v);
    return true;
  }
  return absl::SimpleAtoi(s, out);
}

}  // namespace

bool IsInMapOperator(const policy::MatchArg& m) { return m.op == "InMap" || m.op == "NotInMap"; }

absl::StatusOr<std::vector<uint64_t>> InMapValues(const policy::MatchArg& m, bool is_signed) {
  std::vector<uint64_t> out(m.list_ids.begin(), m.list_ids.end());
  for (size_t i = 0; i < m.values.size(); ++i) {
    const std::string& v = m.values[i];
    const std::string path = absl::StrCat(m.path, ".values[", i, "]");
    if (absl::StartsWith(v, "list:")) continue;  // in m.list_ids
    std::vector<absl::string_view> parts = absl::StrSplit(v, ':');
    uint64_t lo, hi;
    if (parts.size() > 2 || !ParseDecimal(parts[0], is_signed, &lo) ||
        !ParseDecimal(parts.back(), is_signed, &hi)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": \"", v, "\" is not a decimal integer or range 'min:max'"));
    }
    if (parts.size() == 1) {
      out.push_back(lo);
      continue;
    }
    bool reversed = is_signed ? static_cast<int64_t>(lo) > static_cast<int64_t>(hi) : lo > hi;
    if (reversed) return absl::InvalidArgumentError(absl::StrCat(path, ": range \"", v, "\" ends before it starts"));
    if (hi - lo >= kMaxInMapRange) {
      return absl::UnimplementedError(absl::StrCat(path, ": InMap ranges of more than ", kMaxInMapRange,
                                                   " values is not supported by tgdispatch yet"));
    }
    for (uint64_t x = lo;; ++x) {
      out.push_back(x);
      if (x == hi) break;
    }
  }
  return out;
}

}  // namespace tgd
