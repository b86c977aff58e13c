// Kubernetes label selectors (metav1.LabelSelector) as Tetragon's podSelector,
// containerSelector and hostSelector use them: matchLabels AND every
// matchExpressions requirement (In, NotIn, Exists, DoesNotExist).
#ifndef TGDISPATCH_COMPAT_LABELS_LABEL_SELECTOR_H_
#define TGDISPATCH_COMPAT_LABELS_LABEL_SELECTOR_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tgd::labels {

using Labels = std::map<std::string, std::string>;

enum class Operator { kIn, kNotIn, kExists, kDoesNotExist };

struct Requirement {
  std::string key;
  Operator op = Operator::kIn;
  std::vector<std::string> values;

  bool operator==(const Requirement&) const = default;
};

struct LabelSelector {
  Labels match_labels;
  std::vector<Requirement> match_expressions;

  // An empty selector selects everything (Kubernetes semantics).
  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool operator==(const LabelSelector&) const = default;
};

// True when `labels` satisfies every matchLabels pair and every requirement.
// NotIn and DoesNotExist match when the key is absent.
bool Matches(const LabelSelector& selector, const Labels& labels);

// Checks Kubernetes' structural rules: In/NotIn need at least one value,
// Exists/DoesNotExist take none, keys are non-empty. The error names the
// offending entry relative to the selector ("matchExpressions[1].values").
absl::Status Validate(const LabelSelector& selector);

// Parses "In", "NotIn", "Exists", "DoesNotExist" (exact case).
bool ParseOperator(const std::string& text, Operator* op);
const char* OperatorName(Operator op);

}  // namespace tgd::labels

#endif  // TGDISPATCH_COMPAT_LABELS_LABEL_SELECTOR_H_
