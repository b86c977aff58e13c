// PolicyDocument parsing with yaml-cpp.
#include "sensor/policymgr/policy_document.h"

#include <yaml-cpp/yaml.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tgd {
namespace {

absl::Status Error(const YAML::Mark& mark, absl::string_view path, absl::string_view reason) {
  if (mark.line < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
  return absl::InvalidArgumentError(
      absl::StrCat("line ", mark.line + 1, " col ", mark.column + 1, ": ", path, ": ", reason));
}

// RFC 1123 subdomain, as Kubernetes requires of object names.
bool IsDnsSubdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = absl::ascii_islower(c) || absl::ascii_isdigit(c);
    if (!alnum && c != '-' && c != '.') return false;
    if ((i == 0 || i + 1 == s.size()) && !alnum) return false;
  }
  return true;
}

absl::StatusOr<std::string> ScalarField(const YAML::Node& parent, const char* key,
                                        const std::string& path, bool required) {
  YAML::Node n = parent[key];
  if (!n) {
    if (required) return Error(parent.Mark(), path, "required");
    return std::string();
  }
  if (!n.IsScalar()) return Error(n.Mark(), path, "must be a string");
  return n.as<std::string>();
}

}  // namespace

absl::StatusOr<PolicyDocument> ParsePolicyDocument(absl::string_view yaml) {
  if (yaml.size() > kMaxPolicyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("policy is ", yaml.size(),
                                                   " bytes; the limit is ", kMaxPolicyBytes));
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Error(e.mark, "yaml", e.msg);
  }
  if (docs.size() != 1 || !docs[0].IsMap()) {
    if (docs.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected one YAML document, got ", docs.size(), " (add them one by one)"));
    }
    return absl::InvalidArgumentError("expected a YAML mapping with apiVersion, kind, metadata and spec");
  }
  const YAML::Node& root = docs[0];
  PolicyDocument doc;
  doc.yaml = std::string(yaml);
  try {
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      if (key != "apiVersion" && key != "kind" && key != "metadata" && key != "spec") {
        return Error(kv.first.Mark(), key, "unknown field");
      }
    }
    auto api = ScalarField(root, "apiVersion", "apiVersion", true);
    if (!api.ok()) return api.status();
    if (*api != "cilium.io/v1alpha1") {
      return Error(root["apiVersion"].Mark(), "apiVersion",
                   absl::StrCat("\"", *api, "\" is not supported (want cilium.io/v1alpha1)"));
    }
    doc.api_version = *api;
    auto kind = ScalarField(root, "kind", "kind", true);
    if (!kind.ok()) return kind.status();
    if (*kind != "TracingPolicy" && *kind != "TracingPolicyNamespaced") {
      return Error(root["kind"].Mark(), "kind",
                   absl::StrCat("\"", *kind, "\" is not TracingPolicy or TracingPolicyNamespaced"));
    }
    doc.kind = *kind;
    YAML::Node meta = root["metadata"];
    if (!meta) return Error(root.Mark(), "metadata", "required");
    if (!meta.IsMap()) return Error(meta.Mark(), "metadata", "must be a mapping");
    auto name = ScalarField(meta, "name", "metadata.name", true);
    if (!name.ok()) return name.status();
    if (!IsDnsSubdomain(*name)) {
      return Error(meta["name"].Mark(), "metadata.name",
                   absl::StrCat("\"", *name, "\" is not a lowercase RFC 1123 name"));
    }
    doc.name = *name;
    auto ns = ScalarField(meta, "namespace", "metadata.namespace", doc.namespaced());
    if (!ns.ok()) return ns.status();
    if (!doc.namespaced() && !ns->empty()) {
      return Error(meta["namespace"].Mark(), "metadata.namespace",
                   "not allowed on the cluster-scoped kind TracingPolicy");
    }
    if (doc.namespaced() && !IsDnsSubdomain(*ns)) {
      return Error(meta["namespace"].Mark(), "metadata.namespace",
                   absl::StrCat("\"", *ns, "\" is not a valid namespace name"));
    }
    doc.namespace_ = *ns;
    YAML::Node spec = root["spec"];
    if (!spec) return Error(root.Mark(), "spec", "required");
    if (!spec.IsMap()) return Error(spec.Mark(), "spec", "must be a mapping");
    doc.has_pod_selector = static_cast<bool>(spec["podSelector"]);
    doc.has_container_selector = static_cast<bool>(spec["containerSelector"]);
    doc.has_host_selector = static_cast<bool>(spec["hostSelector"]);
    if (doc.namespaced() && doc.has_host_selector) {
      return Error(spec["hostSelector"].Mark(), "spec.hostSelector",
                   "not allowed in a TracingPolicyNamespaced");
    }
    for (const char* list : {"kprobes", "tracepoints", "lsmhooks", "uprobes", "usdts"}) {
      YAML::Node n = spec[list];
      if (!n) continue;
      if (!n.IsSequence()) return Error(n.Mark(), absl::StrCat("spec.", list), "must be a list");
      doc.hooks[list] = static_cast<int>(n.size());
    }
  } catch (const YAML::Exception& e) {
    return Error(e.mark, "yaml", e.msg);
  }
  return doc;
}

}  // namespace tgd
