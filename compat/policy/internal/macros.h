// spec.selectorsMacros: named selector fragments that a selector pulls in
// with `macros: [NAME, ...]`. Expanded into the selectors before they are
// parsed, as Tetragon does before loading (appendMacrosSelectors): each
// macro's filters are appended to the selector's, a filter set by both the
// selector and a macro (or by two macros) is an error, a macro cannot use
// macros, and the selector takes the macro's label when it has none. Private
// to compat/policy.
#ifndef TGDISPATCH_COMPAT_POLICY_INTERNAL_MACROS_H_
#define TGDISPATCH_COMPAT_POLICY_INTERNAL_MACROS_H_

#include "absl/status/status.h"
#include "compat/policy/internal/reader.h"

namespace tgd::policy::internal {

// The selector fields a macro can hold (KProbeSelector's, minus matchWorkloads,
// which Tetragon does not copy).
inline constexpr const char* kMacroFilterKeys[] = {
    "matchPIDs",          "matchArgs",          "matchData",             "matchActions",
    "matchReturnArgs",    "matchReturnActions", "matchBinaries",         "matchParentBinaries",
    "matchNamespaces",    "matchNamespaceChanges", "matchCapabilities",  "matchCapabilityChanges"};

// Rewrites, in the document, every selector of every hook list of `spec` that
// has `macros` into the expanded selector (without `macros`). Errors:
// INVALID_ARGUMENT naming the selector's `macros[i]` or the doubly-set field.
absl::Status ExpandSelectorsMacros(Budget* budget, const MapReader& spec);

}  // namespace tgd::policy::internal

#endif  // TGDISPATCH_COMPAT_POLICY_INTERNAL_MACROS_H_
