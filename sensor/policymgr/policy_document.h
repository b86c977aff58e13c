// PolicyDocument: a TracingPolicy / TracingPolicyNamespaced as the policy
// lifecycle sees it: identity, scoping, hook counts, the original text, and
// the full parsed and validated model (compat/policy) for loaders. Parsing is
// compat/policy's, so AddTracingPolicy and `tgdispatch policy validate` give
// the same messages.
#ifndef TGDISPATCH_SENSOR_POLICYMGR_POLICY_DOCUMENT_H_
#define TGDISPATCH_SENSOR_POLICYMGR_POLICY_DOCUMENT_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "compat/policy/policy.h"

namespace tgd {

inline constexpr size_t kMaxPolicyBytes = policy::kMaxPolicyBytes;  // 1 MiB, per policy

struct PolicyDocument {
  std::string api_version;
  std::string kind;        // "TracingPolicy" or "TracingPolicyNamespaced"
  std::string name;
  std::string namespace_;  // empty for cluster-scoped policies
  bool has_pod_selector = false;
  bool has_container_selector = false;
  bool has_host_selector = false;
  // Hook list name ("kprobes", "tracepoints", "lsmhooks", "uprobes", "usdts")
  // -> number of hooks in it.
  std::map<std::string, int> hooks;
  std::string yaml;        // the document as given
  std::shared_ptr<const policy::TracingPolicy> model;  // never null after a successful parse

  bool namespaced() const { return kind == "TracingPolicyNamespaced"; }
  // Scoped policies need a policy-filter id (namespace, pod, container or
  // host selector); others apply to every workload.
  bool scoped() const {
    return namespaced() || has_pod_selector || has_container_selector || has_host_selector;
  }
};

// Parses and validates one YAML document with compat/policy. Errors:
// INVALID_ARGUMENT with "line L col C: <field path>: <reason>" (e.g.
// "metadata.name: required"), exactly policy::ParsePolicy's message.
absl::StatusOr<PolicyDocument> ParsePolicyDocument(absl::string_view yaml);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYMGR_POLICY_DOCUMENT_H_
