// matchPIDs conjunctions as one set (see pid_sets.h).
#include "sensor/loader/pid_sets.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tgd {

absl::StatusOr<PidSet> CombinePidSelectors(const std::vector<policy::MatchPIDs>& pids) {
  PidSet out;
  for (size_t i = 0; i < pids.size(); ++i) {
    const policy::MatchPIDs& p = pids[i];
    if (p.op != "In" && p.op != "NotIn") {
      return absl::InvalidArgumentError(absl::StrCat(p.path, ".operator: operator \"", p.op, "\" is not In or NotIn"));
    }
    const bool in = p.op == "In";
    std::set<uint32_t> vals(p.values.begin(), p.values.end());
    if (i == 0) {
      out.in = in;
      out.is_namespace_pid = p.is_namespace_pid;
      out.follow_forks = p.follow_forks;
      out.values = std::move(vals);
      continue;
    }
    if (p.is_namespace_pid != out.is_namespace_pid) {
      return absl::UnimplementedError(absl::StrCat(
          p.path, ": matchPIDs over both namespace and host pids in one selector is not supported by tgdispatch yet"));
    }
    if (p.follow_forks != out.follow_forks) {
      return absl::UnimplementedError(absl::StrCat(
          p.path, ".followForks: matchPIDs with and without followForks in one selector is not supported by "
                  "tgdispatch yet"));
    }
    if (p.follow_forks && (in || out.in)) {
      // In A and In B over ancestors is not one set: two ancestors may match.
      return absl::UnimplementedError(absl::StrCat(
          p.path, ": several followForks matchPIDs other than NotIn ones in one selector is not supported by "
                  "tgdispatch yet"));
    }
    std::set<uint32_t> next;
    if (out.in && in) {  // A ∩ B
      for (uint32_t v : out.values) {
        if (vals.count(v)) next.insert(v);
      }
    } else if (out.in) {  // A \ B
      for (uint32_t v : out.values) {
        if (!vals.count(v)) next.insert(v);
      }
    } else if (in) {  // B \ A, now In
      for (uint32_t v : vals) {
        if (!out.values.count(v)) next.insert(v);
      }
      out.in = true;
    } else {  // A ∪ B
      next = out.values;
      next.insert(vals.begin(), vals.end());
    }
    out.values = std::move(next);
  }
  return out;
}

}  // namespace tgd
