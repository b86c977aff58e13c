// Label selector matching and validation.
#include "compat/labels/label_selector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tgd::labels {

bool Matches(const LabelSelector& selector, const Labels& labels) {
  for (const auto& [key, value] : selector.match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  for (const Requirement& req : selector.match_expressions) {
    auto it = labels.find(req.key);
    bool present = it != labels.end();
    bool in_values =
        present && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    switch (req.op) {
      case Operator::kIn:
        if (!in_values) return false;
        break;
      case Operator::kNotIn:
        if (in_values) return false;
        break;
      case Operator::kExists:
        if (!present) return false;
        break;
      case Operator::kDoesNotExist:
        if (present) return false;
        break;
    }
  }
  return true;
}

absl::Status Validate(const LabelSelector& selector) {
  for (const auto& [key, value] : selector.match_labels) {
    if (key.empty()) return absl::InvalidArgumentError("matchLabels: empty key");
  }
  for (size_t i = 0; i < selector.match_expressions.size(); ++i) {
    const Requirement& req = selector.match_expressions[i];
    std::string where = absl::StrCat("matchExpressions[", i, "]");
    if (req.key.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ".key: must not be empty"));
    bool needs_values = req.op == Operator::kIn || req.op == Operator::kNotIn;
    if (needs_values && req.values.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".values: operator ", OperatorName(req.op), " needs at least one value"));
    }
    if (!needs_values && !req.values.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".values: operator ", OperatorName(req.op), " takes no values"));
    }
  }
  return absl::OkStatus();
}

bool ParseOperator(const std::string& text, Operator* op) {
  if (text == "In") *op = Operator::kIn;
  else if (text == "NotIn") *op = Operator::kNotIn;
  else if (text == "Exists") *op = Operator::kExists;
  else if (text == "DoesNotExist") *op = Operator::kDoesNotExist;
  else return false;
  return true;
}

const char* OperatorName(Operator op) {
  switch (op) {
    case Operator::kIn: return "In";
    case Operator::kNotIn: return "NotIn";
    case Operator::kExists: return "Exists";
    case Operator::kDoesNotExist: return "DoesNotExist";
  }
  return "?";
}

}  // namespace tgd::labels
