// generated_ftrace list generation (see ftrace_list.h).
#include "sensor/loader/ftrace_list.h"

#include <re2/re2.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sensor/bpfcore/fs.h"

namespace tgd {

absl::StatusOr<std::vector<std::string>> MatchFtraceFunctions(const policy::ListSpec& list, absl::string_view text) {
  const std::string path = list.path.empty() ? "spec.lists" : list.path;
  if (!list.pattern || list.pattern->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".pattern: error generated ftrace list '", list.name, "' must specify pattern"));
  }
  RE2 re(*list.pattern, RE2::Quiet);
  if (!re.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ".pattern: \"", *list.pattern, "\": ", re.error()));
  }
  std::vector<std::string> funcs;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, ' ')) break;  // module functions follow vmlinux's
    funcs.emplace_back(line);
  }
  std::sort(funcs.begin(), funcs.end());
  funcs.erase(std::unique(funcs.begin(), funcs.end()), funcs.end());
  std::vector<std::string> out;
  for (std::string& f : funcs) {
    if (absl::StrContains(f, "__ftrace_invalid_address__")) continue;
    if (RE2::PartialMatch(f, re)) out.push_back(std::move(f));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ".pattern: ftrace: '", *list.pattern, "' not found"));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ReadFtraceList(const policy::ListSpec& list) {
  absl::StatusOr<std::string> tracefs = FindMount("tracefs");
  if (!tracefs.ok()) return absl::UnavailableError("no tracefs is mounted");
  const std::string file = absl::StrCat(*tracefs, "/available_filter_functions");
  std::ifstream in(file);
  if (!in) return absl::UnavailableError(absl::StrCat(file, " is not readable here"));
  std::stringstream ss;
  ss << in.rdbuf();
  return MatchFtraceFunctions(list, ss.str());
}

}  // namespace tgd
