// Canonical YAML of a TracingPolicy (yaml-cpp emitter). Every list is written
// as a block sequence, every field with its CRD name; defaults are explicit.
#include <yaml-cpp/yaml.h>

#include <string>

#include "compat/policy/policy.h"

namespace tgd::policy {
namespace {

// Strings always double-quoted so numbers and booleans stay strings.
void Str(YAML::Emitter& e, const char* key, const std::string& v) {
  e << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << v;
}

void StrList(YAML::Emitter& e, const char* key, const std::vector<std::string>& v) {
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const std::string& s : v) e << YAML::DoubleQuoted << s;
  e << YAML::EndSeq;
}

void Labels(YAML::Emitter& e, const char* key, const labels::LabelSelector& s) {
  e << YAML::Key << key << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "matchLabels" << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : s.match_labels) e << YAML::Key << YAML::DoubleQuoted << k << YAML::Value << YAML::DoubleQuoted << v;
  e << YAML::EndMap;
  e << YAML::Key << "matchExpressions" << YAML::Value << YAML::BeginSeq;
  for (const labels::Requirement& r : s.match_expressions) {
    e << YAML::BeginMap;
    Str(e, "key", r.key);
    Str(e, "operator", labels::OperatorName(r.op));
    StrList(e, "values", r.values);
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
}

void Arg(YAML::Emitter& e, const ArgSpec& a) {
  e << YAML::BeginMap;
  e << YAML::Key << "index" << YAML::Value << a.index;
  Str(e, "type", a.type);
  e << YAML::Key << "sizeArgIndex" << YAML::Value << a.size_arg_index;
  e << YAML::Key << "returnCopy" << YAML::Value << a.return_copy;
  e << YAML::Key << "maxData" << YAML::Value << a.max_data;
  Str(e, "label", a.label);
  Str(e, "resolve", a.resolve);
  // Newer fields: written when set, so older canonical forms stay the same.
  if (!a.source.empty()) Str(e, "source", a.source);
  if (!a.btf_type.empty()) Str(e, "btfType", a.btf_type);
  if (!a.btf_type_module.empty()) Str(e, "btfTypeModule", a.btf_type_module);
  e << YAML::EndMap;
}

void MatchArgs(YAML::Emitter& e, const char* key, const std::vector<MatchArg>& v) {
  if (v.empty()) return;
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const MatchArg& a : v) {
    e << YAML::BeginMap;
    e << YAML::Key << "index" << YAML::Value << a.index;
    Str(e, "operator", a.op);
    StrList(e, "values", a.values);
    if (!a.args.empty()) {
      e << YAML::Key << "args" << YAML::Value << YAML::BeginSeq;
      for (uint32_t x : a.args) e << x;
      e << YAML::EndSeq;
    }
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
}

void Actions(YAML::Emitter& e, const char* key, const std::vector<MatchAction>& v) {
  if (v.empty()) return;
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const MatchAction& a : v) {
    e << YAML::BeginMap;
    Str(e, "action", a.action);
    e << YAML::Key << "argError" << YAML::Value << a.arg_error;
    e << YAML::Key << "argSig" << YAML::Value << a.arg_sig;
    e << YAML::Key << "argFd" << YAML::Value << a.arg_fd;
    e << YAML::Key << "argName" << YAML::Value << a.arg_name;
    e << YAML::Key << "argSock" << YAML::Value << a.arg_sock;
    // Written for every action: the parser accepts them on any (Set reads them).
    e << YAML::Key << "argIndex" << YAML::Value << a.arg_index;
    e << YAML::Key << "argValue" << YAML::Value << a.arg_value;
    if (!a.arg_regs.empty()) StrList(e, "argRegs", a.arg_regs);
    if (!a.arg_new_symbol.empty()) Str(e, "argNewSymbol", a.arg_new_symbol);
    if (a.arg_new_addr != 0) e << YAML::Key << "argNewAddr" << YAML::Value << a.arg_new_addr;
    if (a.arg_new_offset != 0) e << YAML::Key << "argNewOffset" << YAML::Value << a.arg_new_offset;
    Str(e, "argUrl", a.arg_url);
    Str(e, "argFqdn", a.arg_fqdn);
    if (a.action == "Post") {
      if (!a.rate_limit.empty()) Str(e, "rateLimit", a.rate_limit);
      if (!a.rate_limit_scope.empty()) Str(e, "rateLimitScope", a.rate_limit_scope);
      e << YAML::Key << "kernelStackTrace" << YAML::Value << a.kernel_stack_trace;
      e << YAML::Key << "userStackTrace" << YAML::Value << a.user_stack_trace;
      e << YAML::Key << "imaHash" << YAML::Value << a.ima_hash;
    }
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
}

void Binaries(YAML::Emitter& e, const char* key, const std::vector<MatchBinaries>& v) {
  if (v.empty()) return;
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const MatchBinaries& b : v) {
    e << YAML::BeginMap;
    Str(e, "operator", b.op);
    StrList(e, "values", b.values);
    e << YAML::Key << "followChildren" << YAML::Value << b.follow_children;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
}

void Caps(YAML::Emitter& e, const char* key, const std::vector<MatchCapabilities>& v) {
  if (v.empty()) return;
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const MatchCapabilities& c : v) {
    e << YAML::BeginMap;
    Str(e, "type", c.type);
    Str(e, "operator", c.op);
    e << YAML::Key << "isNamespaceCapability" << YAML::Value << c.is_namespace_capability;
    StrList(e, "values", c.values);
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
}

void SelectorYaml(YAML::Emitter& e, const Selector& s) {
  e << YAML::BeginMap;
  if (!s.label.empty()) Str(e, "label", s.label);
  if (s.match_workloads) {
    e << YAML::Key << "matchWorkloads" << YAML::Value << YAML::BeginMap;
    if (s.match_workloads->pod_selector) Labels(e, "podSelector", *s.match_workloads->pod_selector);
    if (s.match_workloads->container_selector) Labels(e, "containerSelector", *s.match_workloads->container_selector);
    if (s.match_workloads->host_selector) Labels(e, "hostSelector", *s.match_workloads->host_selector);
    e << YAML::EndMap;
  }
  if (!s.match_pids.empty()) {
    e << YAML::Key << "matchPIDs" << YAML::Value << YAML::BeginSeq;
    for (const MatchPIDs& p : s.match_pids) {
      e << YAML::BeginMap;
      Str(e, "operator", p.op);
      e << YAML::Key << "values" << YAML::Value << YAML::BeginSeq;
      for (uint32_t v : p.values) e << v;
      e << YAML::EndSeq;
      e << YAML::Key << "followForks" << YAML::Value << p.follow_forks;
      e << YAML::Key << "isNamespacePID" << YAML::Value << p.is_namespace_pid;
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  MatchArgs(e, "matchArgs", s.match_args);
  MatchArgs(e, "matchReturnArgs", s.match_return_args);
  MatchArgs(e, "matchData", s.match_data);
  Binaries(e, "matchBinaries", s.match_binaries);
  Binaries(e, "matchParentBinaries", s.match_parent_binaries);
  if (!s.match_namespaces.empty()) {
    e << YAML::Key << "matchNamespaces" << YAML::Value << YAML::BeginSeq;
    for (const MatchNamespaces& n : s.match_namespaces) {
      e << YAML::BeginMap;
      Str(e, "namespace", n.ns);
      Str(e, "operator", n.op);
      StrList(e, "values", n.values);
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  if (!s.match_namespace_changes.empty()) {
    e << YAML::Key << "matchNamespaceChanges" << YAML::Value << YAML::BeginSeq;
    for (const MatchNamespaceChanges& n : s.match_namespace_changes) {
      e << YAML::BeginMap;
      Str(e, "operator", n.op);
      StrList(e, "values", n.values);
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  Caps(e, "matchCapabilities", s.match_capabilities);
  Caps(e, "matchCapabilityChanges", s.match_capability_changes);
  Actions(e, "matchActions", s.match_actions);
  Actions(e, "matchReturnActions", s.match_return_actions);
  e << YAML::EndMap;
}

void HookBody(YAML::Emitter& e, const Hook& h) {
  Str(e, "message", h.message);
  StrList(e, "tags", h.tags);
  e << YAML::Key << "args" << YAML::Value << YAML::BeginSeq;
  for (const ArgSpec& a : h.args) Arg(e, a);
  e << YAML::EndSeq;
  if (!h.data.empty()) {
    e << YAML::Key << "data" << YAML::Value << YAML::BeginSeq;
    for (const ArgSpec& a : h.data) Arg(e, a);
    e << YAML::EndSeq;
  }
  e << YAML::Key << "selectors" << YAML::Value << YAML::BeginSeq;
  for (const Selector& s : h.selectors) SelectorYaml(e, s);
  e << YAML::EndSeq;
}

void Hooks(YAML::Emitter& e, const TracingPolicy& p, const char* key, std::initializer_list<HookKind> kinds) {
  bool any = false;
  for (const Hook& h : p.hooks) {
    for (HookKind k : kinds) any = any || h.kind == k;
  }
  if (!any) return;
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const Hook& h : p.hooks) {
    bool mine = false;
    for (HookKind k : kinds) mine = mine || h.kind == k;
    if (!mine) continue;
    e << YAML::BeginMap;
    switch (h.kind) {
      case HookKind::kKprobe:
      case HookKind::kFentry:
        Str(e, "call", h.call);
        e << YAML::Key << "syscall" << YAML::Value << h.syscall;
        e << YAML::Key << "return" << YAML::Value << h.is_return;
        if (h.return_arg) {
          e << YAML::Key << "returnArg" << YAML::Value;
          Arg(e, *h.return_arg);
        }
        if (!h.return_arg_action.empty()) Str(e, "returnArgAction", h.return_arg_action);
        if (h.ignore_call_not_found) {
          e << YAML::Key << "ignore" << YAML::Value << YAML::BeginMap << YAML::Key << "callNotFound" << YAML::Value
            << true << YAML::EndMap;
        }
        break;
      case HookKind::kTracepoint:
      case HookKind::kRawTracepoint:
        Str(e, "subsystem", h.subsystem);
        Str(e, "event", h.event);
        e << YAML::Key << "raw" << YAML::Value << (h.kind == HookKind::kRawTracepoint);
        break;
      case HookKind::kLsm:
        Str(e, "hook", h.call);
        break;
      case HookKind::kUprobe:
        Str(e, "path", h.binary_path);
        StrList(e, "symbols", h.symbols);
        for (const auto& [key2, list] : {std::pair{"offsets", &h.offsets}, std::pair{"refCtrOffsets", &h.ref_ctr_offsets},
                                         std::pair{"addrs", &h.addrs}}) {
          if (list->empty()) continue;
          e << YAML::Key << key2 << YAML::Value << YAML::BeginSeq;
          for (uint64_t o : *list) e << o;
          e << YAML::EndSeq;
        }
        if (!h.btf_path.empty()) Str(e, "btfPath", h.btf_path);
        if (!h.binary_digests.empty()) StrList(e, "binaryDigests", h.binary_digests);
        if (h.is_return) e << YAML::Key << "return" << YAML::Value << true;
        if (h.return_arg) {
          e << YAML::Key << "returnArg" << YAML::Value;
          Arg(e, *h.return_arg);
        }
        if (h.ignore_digest_verification_failure) {
          e << YAML::Key << "ignore" << YAML::Value << YAML::BeginMap << YAML::Key << "digestVerificationFailure"
            << YAML::Value << true << YAML::EndMap;
        }
        break;
      case HookKind::kUsdt:
        Str(e, "path", h.binary_path);
        Str(e, "provider", h.provider);
        Str(e, "name", h.call);
        if (!h.btf_path.empty()) Str(e, "btfPath", h.btf_path);
        break;
    }
    HookBody(e, h);
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
}

}  // namespace

std::string ToCanonicalYaml(const TracingPolicy& p) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  Str(e, "apiVersion", p.api_version);
  Str(e, "kind", p.kind);
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  Str(e, "name", p.name);
  if (!p.namespace_.empty()) Str(e, "namespace", p.namespace_);
  for (const auto& [key, list] : {std::pair{"labels", &p.labels}, std::pair{"annotations", &p.annotations}}) {
    if (list->empty()) continue;
    e << YAML::Key << key << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : *list) e << YAML::Key << YAML::DoubleQuoted << k << YAML::Value << YAML::DoubleQuoted << v;
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
  e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "loader" << YAML::Value << p.loader;
  if (p.pod_selector) Labels(e, "podSelector", *p.pod_selector);
  if (p.container_selector) Labels(e, "containerSelector", *p.container_selector);
  if (p.host_selector) Labels(e, "hostSelector", *p.host_selector);
  if (p.node_selector) Labels(e, "nodeSelector", *p.node_selector);
  if (!p.lists.empty()) {
    e << YAML::Key << "lists" << YAML::Value << YAML::BeginSeq;
    for (const ListSpec& l : p.lists) {
      e << YAML::BeginMap;
      Str(e, "name", l.name);
      if (!l.type.empty()) Str(e, "type", l.type);
      StrList(e, "values", l.values);
      if (l.pattern) Str(e, "pattern", *l.pattern);
      e << YAML::Key << "validated" << YAML::Value << l.validated;
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  if (!p.enforcers.empty()) {
    e << YAML::Key << "enforcers" << YAML::Value << YAML::BeginSeq;
    for (const EnforcerSpec& en : p.enforcers) {
      e << YAML::BeginMap;
      StrList(e, "calls", en.calls);
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  if (!p.options.empty()) {
    e << YAML::Key << "options" << YAML::Value << YAML::BeginSeq;
    for (const auto& [name, value] : p.options) {
      e << YAML::BeginMap;
      Str(e, "name", name);
      Str(e, "value", value);
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  Hooks(e, p, "kprobes", {HookKind::kKprobe});
  Hooks(e, p, "fentries", {HookKind::kFentry});  // parsed right after kprobes
  Hooks(e, p, "tracepoints", {HookKind::kTracepoint, HookKind::kRawTracepoint});
  Hooks(e, p, "lsmhooks", {HookKind::kLsm});
  Hooks(e, p, "uprobes", {HookKind::kUprobe});
  Hooks(e, p, "usdts", {HookKind::kUsdt});
  e << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace tgd::policy
