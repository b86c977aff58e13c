// PolicyDocument: the envelope of a TracingPolicy / TracingPolicyNamespaced
// YAML document (apiVersion, kind, metadata, which selectors and hook lists
// the spec has), read with yaml-cpp and checked structurally. The full spec
// model and its validation live in compat/policy (issue 3); this is what the
// policy lifecycle needs: identity, scoping, the original text for loaders.
#ifndef TGDISPATCH_SENSOR_POLICYMGR_POLICY_DOCUMENT_H_
#define TGDISPATCH_SENSOR_POLICYMGR_POLICY_DOCUMENT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tgd {

inline constexpr size_t kMaxPolicyBytes = 1 << 20;  // 1 MiB, per policy

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

  bool namespaced() const { return kind == "TracingPolicyNamespaced"; }
  // Scoped policies need a policy-filter id (namespace or pod/container
  // selector); others apply to every workload.
  bool scoped() const { return namespaced() || has_pod_selector || has_container_selector; }
};

// Parses one YAML document. Errors: INVALID_ARGUMENT with
// "line L col C: <field path>: <reason>" (e.g. "metadata.name: required").
absl::StatusOr<PolicyDocument> ParsePolicyDocument(absl::string_view yaml);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYMGR_POLICY_DOCUMENT_H_
