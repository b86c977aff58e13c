// spec.options (see spec_options.h).
#include "compat/policy/spec_options.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tgd::policy {

std::optional<bool> ParseGoBool(const std::string& s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") return false;
  return std::nullopt;
}

absl::StatusOr<SpecOptions> ParseSpecOptions(const TracingPolicy& p) {
  SpecOptions out;
  for (size_t i = 0; i < p.options.size(); ++i) {
    const auto& [name, value] = p.options[i];
    const std::string at = absl::StrCat("spec.options[", i, "]");
    auto bad_value = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".value: option \"", name, "\": \"", value, "\" ", why));
    };
    if (name == "disable-kprobe-multi" || name == "disable-uprobe-multi") {
      std::optional<bool> b = ParseGoBool(value);
      if (!b) return bad_value("is not a boolean (true, false, 1, 0, t, f)");
      (name == "disable-kprobe-multi" ? out.disable_kprobe_multi : out.disable_uprobe_multi) = *b;
    } else if (name == "override-method") {
      if (value != "fmod-ret" && value != "override-return") {
        return bad_value("is not an override method (fmod-ret or override-return)");
      }
      out.override_method = value;
    } else if (name == "policy-mode") {
      if (value != "enforce" && value != "monitor") return bad_value("is not a mode (enforce or monitor)");
      out.policy_mode = value;
    } else if (name == "sleepable-preload-size") {
      int n = 0;
      if (!absl::SimpleAtoi(value, &n)) return bad_value("is not an integer");
      if (n <= 0) return bad_value("must be positive");
      out.sleepable_preload_size = n;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ".name: \"", name,
          "\" is not an option Tetragon defines (disable-kprobe-multi, disable-uprobe-multi, override-method, "
          "policy-mode, sleepable-preload-size)"));
    }
  }
  return out;
}

}  // namespace tgd::policy
