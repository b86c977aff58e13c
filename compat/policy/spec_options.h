// spec.options of a TracingPolicy: the options Tetragon defines
// (pkg/sensors/tracing/options.go), validated with Tetragon's value syntax,
// and what each one means for tgdispatch.
#ifndef TGDISPATCH_COMPAT_POLICY_SPEC_OPTIONS_H_
#define TGDISPATCH_COMPAT_POLICY_SPEC_OPTIONS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "compat/policy/policy.h"

namespace tgd::policy {

struct SpecOptions {
  // "disable-kprobe-multi", "disable-uprobe-multi": tgdispatch attaches one
  // dispatcher per hook and never uses kprobe_multi/uprobe_multi links, so
  // both values load and change nothing.
  bool disable_kprobe_multi = false;
  bool disable_uprobe_multi = false;
  // "override-method": "fmod-ret" or "override-return". It chooses how
  // Override works on kprobes, which tgdispatch refuses (no kernel here can
  // test it); Override on LSM hooks returns the verdict itself. Validated,
  // no effect.
  std::string override_method;
  // "policy-mode": "enforce" or "monitor": the mode the policy starts in
  // (ConfigureTracingPolicy changes it later). Empty: enforce.
  std::string policy_mode;
  // "sleepable-preload-size": a positive integer sizing the map Tetragon's
  // sleepable uprobe programs preload user memory into. tgdispatch has no
  // sleepable programs: validated, no effect.
  int sleepable_preload_size = 0;
};

// Parses every option of `p`. Errors: INVALID_ARGUMENT naming
// spec.options[i].name (an option Tetragon does not define; Tetragon ignores
// those silently, tgdispatch never ignores a field) or spec.options[i].value
// (a value Tetragon would refuse).
absl::StatusOr<SpecOptions> ParseSpecOptions(const TracingPolicy& p);

// Go's strconv.ParseBool, which Tetragon uses for boolean options.
std::optional<bool> ParseGoBool(const std::string& s);

}  // namespace tgd::policy

#endif  // TGDISPATCH_COMPAT_POLICY_SPEC_OPTIONS_H_
