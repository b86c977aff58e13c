// PolicyDocument from the compat/policy model.
#include "sensor/policymgr/policy_document.h"

#include <utility>

#include "compat/policy/policy.h"

namespace tgd {

absl::StatusOr<PolicyDocument> ParsePolicyDocument(absl::string_view yaml) {
  absl::StatusOr<policy::TracingPolicy> parsed =
      policy::ParsePolicy(std::string_view(yaml.data(), yaml.size()));
  if (!parsed.ok()) return parsed.status();
  PolicyDocument doc;
  doc.api_version = parsed->api_version;
  doc.kind = parsed->kind;
  doc.name = parsed->name;
  doc.namespace_ = parsed->namespace_;
  doc.has_pod_selector = parsed->pod_selector.has_value();
  doc.has_container_selector = parsed->container_selector.has_value();
  doc.has_host_selector = parsed->host_selector.has_value();
  for (const policy::Hook& h : parsed->hooks) {
    switch (h.kind) {
      case policy::HookKind::kKprobe: ++doc.hooks["kprobes"]; break;
      case policy::HookKind::kTracepoint:
      case policy::HookKind::kRawTracepoint: ++doc.hooks["tracepoints"]; break;
      case policy::HookKind::kLsm: ++doc.hooks["lsmhooks"]; break;
      case policy::HookKind::kUprobe: ++doc.hooks["uprobes"]; break;
      case policy::HookKind::kUsdt: ++doc.hooks["usdts"]; break;
      case policy::HookKind::kFentry: ++doc.hooks["fentries"]; break;
    }
  }
  doc.yaml = std::string(yaml);
  doc.model = std::make_shared<const policy::TracingPolicy>(*std::move(parsed));
  return doc;
}

}  // namespace tgd
