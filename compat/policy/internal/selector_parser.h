// Parsing and checking of one hook selector (spec.<hooks>[i].selectors[j]):
// every match* filter and action, against the hook's declared arguments and
// the policy's lists and enforcers. Private to compat/policy.
#ifndef TGDISPATCH_COMPAT_POLICY_INTERNAL_SELECTOR_PARSER_H_
#define TGDISPATCH_COMPAT_POLICY_INTERNAL_SELECTOR_PARSER_H_

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "compat/policy/internal/reader.h"
#include "compat/policy/policy.h"

namespace tgd::policy::internal {

struct SelectorContext {
  Budget* budget = nullptr;
  const Hook* hook = nullptr;              // kind, args, return_arg, syscall are set
  const TracingPolicy* policy = nullptr;   // lists and enforcers are set
};

// A label selector field of `parent` (parse.cc's reader; matchWorkloads uses
// it). Errors: INVALID_ARGUMENT naming the field.
absl::Status ParseWorkloadSelector(Budget* budget, const MapReader& parent, const char* key, bool container,
                                   std::optional<labels::LabelSelector>* out);

// Errors: INVALID_ARGUMENT "line L col C: <path>: <reason>".
absl::Status ParseSelector(const SelectorContext& ctx, const YAML::Node& node, const std::string& path,
                           Selector* out);

}  // namespace tgd::policy::internal

#endif  // TGDISPATCH_COMPAT_POLICY_INTERNAL_SELECTOR_PARSER_H_
