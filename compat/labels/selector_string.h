// Parses Kubernetes label selector strings, as `kubectl -l` and Tetragon's
// GetEvents `labels` filter take them: comma-separated requirements
//   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
// into a LabelSelector (`!=` becomes NotIn, a bare key Exists).
#ifndef TGDISPATCH_COMPAT_LABELS_SELECTOR_STRING_H_
#define TGDISPATCH_COMPAT_LABELS_SELECTOR_STRING_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "compat/labels/label_selector.h"

namespace tgd::labels {

// Errors: INVALID_ARGUMENT naming the requirement that does not parse.
absl::StatusOr<LabelSelector> ParseSelectorString(absl::string_view text);

}  // namespace tgd::labels

#endif  // TGDISPATCH_COMPAT_LABELS_SELECTOR_STRING_H_
