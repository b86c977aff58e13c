// Kubernetes label selector string parser.
#include "compat/labels/selector_string.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tgd::labels {
namespace {

// Splits on commas that are not inside parentheses.
std::vector<std::string> SplitRequirements(absl::string_view text, bool* balanced) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  *balanced = true;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth < 0) *balanced = false;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (depth != 0) *balanced = false;
  out.push_back(cur);
  return out;
}

bool ValidKey(absl::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<LabelSelector> ParseSelectorString(absl::string_view text) {
  LabelSelector sel;
  if (absl::StripAsciiWhitespace(text).empty()) return sel;
  bool balanced;
  std::vector<std::string> reqs = SplitRequirements(text, &balanced);
  if (!balanced) return absl::InvalidArgumentError(absl::StrCat("unbalanced parentheses in \"", text, "\""));
  for (const std::string& raw : reqs) {
    absl::string_view r = absl::StripAsciiWhitespace(raw);
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("label requirement \"", r, "\": ", why));
    };
    if (r.empty()) return bad("empty requirement");
    Requirement req;
    size_t op;
    if (absl::ConsumePrefix(&r, "!")) {
      req.key = std::string(absl::StripAsciiWhitespace(r));
      req.op = Operator::kDoesNotExist;
    } else if ((op = r.find("!=")) != absl::string_view::npos) {
      req.key = std::string(absl::StripAsciiWhitespace(r.substr(0, op)));
      req.op = Operator::kNotIn;
      req.values = {std::string(absl::StripAsciiWhitespace(r.substr(op + 2)))};
    } else if ((op = r.find('=')) != absl::string_view::npos) {
      req.key = std::string(absl::StripAsciiWhitespace(r.substr(0, op)));
      absl::string_view v = r.substr(op + 1);
      absl::ConsumePrefix(&v, "=");
      req.op = Operator::kIn;
      req.values = {std::string(absl::StripAsciiWhitespace(v))};
    } else if (size_t paren = r.find('('); paren != absl::string_view::npos) {
      std::vector<std::string> head = absl::StrSplit(r.substr(0, paren), ' ', absl::SkipEmpty());
      if (head.size() != 2 || (head[1] != "in" && head[1] != "notin")) {
        return bad("expected \"key in (...)\" or \"key notin (...)\"");
      }
      if (!absl::EndsWith(r, ")")) return bad("missing ')'");
      req.key = head[0];
      req.op = head[1] == "in" ? Operator::kIn : Operator::kNotIn;
      absl::string_view list = r.substr(paren + 1, r.size() - paren - 2);
      for (absl::string_view v : absl::StrSplit(list, ',')) {
        v = absl::StripAsciiWhitespace(v);
        if (v.empty()) return bad("empty value in set");
        req.values.emplace_back(v);
      }
    } else {
      req.key = std::string(r);
      req.op = Operator::kExists;
    }
    if (!ValidKey(req.key)) return bad("invalid key");
    sel.match_expressions.push_back(std::move(req));
  }
  absl::Status st = Validate(sel);
  if (!st.ok()) return st;
  return sel;
}

}  // namespace tgd::labels
