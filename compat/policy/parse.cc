// TracingPolicy parsing: documents, metadata, spec, hooks and their args.
// Selectors are in internal/selector_parser.cc.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <exception>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "compat/policy/internal/macros.h"
#include "compat/policy/internal/reader.h"
#include "compat/policy/internal/selector_parser.h"
#include "compat/policy/internal/shape.h"
#include "compat/policy/internal/vocab.h"
#include "compat/policy/policy.h"
#include "sensor/base/status_macros.h"

namespace tgd::policy {

using internal::Budget;
using internal::ErrorAt;
using internal::MapReader;
using Items = std::vector<std::pair<YAML::Node, std::string>>;

const char* HookKindName(HookKind kind) {
  switch (kind) {
    case HookKind::kKprobe: return "kprobe";
    case HookKind::kTracepoint: return "tracepoint";
    case HookKind::kRawTracepoint: return "raw_tracepoint";
    case HookKind::kLsm: return "lsm";
    case HookKind::kUprobe: return "uprobe";
    case HookKind::kUsdt: return "usdt";
    case HookKind::kFentry: return "fentry";
  }
  return "?";
}

namespace {

constexpr size_t kMaxArgs = 5;          // MaxArgsSupported
constexpr int kMaxKprobeArgIndex = 4;   // registers read by the kprobe programs
constexpr size_t kMinTagLen = 2, kMaxTagLen = 128;

// RFC 1123 subdomain (object names) or label (namespaces).
bool IsDnsName(const std::string& s, bool label) {
  if (s.empty() || s.size() > (label ? 63u : 253u)) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = absl::ascii_islower(c) || absl::ascii_isdigit(c);
    if (!alnum && c != '-' && (label || c != '.')) return false;
    if ((i == 0 || i + 1 == s.size()) && !alnum) return false;
  }
  return true;
}

// Label values: at most 63 characters, alphanumeric at both ends, '-_.' inside.
bool IsLabelValue(const std::string& s) {
  if (s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = absl::ascii_isalnum(c);
    if (!alnum && c != '-' && c != '_' && c != '.') return false;
    if ((i == 0 || i + 1 == s.size()) && !alnum) return false;
  }
  return true;
}

absl::Status ParseStringMap(Budget* budget, const MapReader& parent, const char* key,
                            std::vector<std::pair<std::string, std::string>>* out) {
  if (!parent.Has(key)) return absl::OkStatus();
  TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, parent.Get(key), parent.PathOf(key), {}));
  for (const auto& [k, v] : m.entries()) {
    std::string value;
    TGD_RETURN_IF_ERROR(internal::ScalarString(budget, v, m.PathOf(k.c_str()), &value));
    out->emplace_back(k, value);
  }
  return absl::OkStatus();
}

absl::Status ParseLabelSelector(Budget* budget, const MapReader& spec, const char* key, bool container,
                                std::optional<labels::LabelSelector>* out) {
  if (!spec.Get(key).IsDefined()) return absl::OkStatus();
  TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, spec.Get(key), spec.PathOf(key),
                                                    {"matchLabels", "matchExpressions"}));
  labels::LabelSelector sel;
  std::vector<std::pair<std::string, std::string>> ml;
  TGD_RETURN_IF_ERROR(ParseStringMap(budget, m, "matchLabels", &ml));
  for (const auto& [k, v] : ml) {
    std::string path = absl::StrCat(m.PathOf("matchLabels"), ".", k);
    if (k.empty()) return ErrorAt(m.PosOf("matchLabels"), path, "empty label key");
    if (!IsLabelValue(v)) {
      return ErrorAt(m.PosOf("matchLabels"), path,
                     absl::StrCat("\"", v, "\" is not a label value (at most 63 characters: alphanumerics "
                                           "and '-', '_', '.' inside)"));
    }
    if (container && k != "name") {
      return ErrorAt(m.PosOf("matchLabels"), path, "containerSelector supports only the key \"name\"");
    }
    sel.match_labels[k] = v;
  }
  Items items;
  TGD_RETURN_IF_ERROR(m.List("matchExpressions", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader e, MapReader::Open(budget, n, p, {"key", "operator", "values"}));
    labels::Requirement req;
    std::string op;
    TGD_RETURN_IF_ERROR(e.String("key", &req.key, true));
    TGD_RETURN_IF_ERROR(e.String("operator", &op, true));
    if (!labels::ParseOperator(op, &req.op)) {
      return e.Error("operator", absl::StrCat("\"", op, "\" is not In, NotIn, Exists or DoesNotExist"));
    }
    TGD_RETURN_IF_ERROR(e.StringList("values", &req.values));
    if (container && req.key != "name") {
      return e.Error("key", "containerSelector supports only the key \"name\"");
    }
    sel.match_expressions.push_back(std::move(req));
  }
  if (absl::Status s = labels::Validate(sel); !s.ok()) {
    return ErrorAt(m.pos(), absl::StrCat(m.path(), ".", s.message().substr(0, s.message().find(':'))),
                   s.message().substr(s.message().find(':') + 2));
  }
  *out = std::move(sel);
  return absl::OkStatus();
}

absl::Status ParseArg(Budget* budget, const YAML::Node& n, const std::string& path, HookKind kind, ArgSpec* out) {
  TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, path, {"index", "type", "sizeArgIndex", "returnCopy",
                                                                      "maxData", "label", "resolve", "source",
                                                                      "btfType", "btfTypeModule"}));
  out->path = path;
  out->pos = m.pos();
  int64_t v = 0;
  TGD_RETURN_IF_ERROR(m.Int("index", 0, INT32_MAX, &v, true));
  out->index = static_cast<int>(v);
  if (kind == HookKind::kKprobe && out->index > kMaxKprobeArgIndex) {
    return m.Error("index", absl::StrCat("kprobe argument index ", out->index, " is out of bounds (0-",
                                         kMaxKprobeArgIndex, ")"));
  }
  TGD_RETURN_IF_ERROR(m.String("type", &out->type));
  if (!internal::IsArgType(out->type)) {
    return m.Error("type", absl::StrCat("unknown argument type \"", out->type, "\""));
  }
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("sizeArgIndex", 0, INT32_MAX, &v));
  out->size_arg_index = static_cast<int>(v);
  TGD_RETURN_IF_ERROR(m.Bool("returnCopy", &out->return_copy));
  TGD_RETURN_IF_ERROR(m.Bool("maxData", &out->max_data));
  TGD_RETURN_IF_ERROR(m.String("label", &out->label));
  TGD_RETURN_IF_ERROR(m.String("resolve", &out->resolve));
  TGD_RETURN_IF_ERROR(m.String("source", &out->source));
  TGD_RETURN_IF_ERROR(m.String("btfType", &out->btf_type));
  TGD_RETURN_IF_ERROR(m.String("btfTypeModule", &out->btf_type_module));
  return absl::OkStatus();
}

absl::Status ParseCommon(Budget* budget, const MapReader& m, Hook* hook) {
  TGD_RETURN_IF_ERROR(m.String("message", &hook->message));
  if (hook->message.size() > kMaxMessageLen) hook->message.resize(kMaxMessageLen);
  std::vector<std::string> tags;
  TGD_RETURN_IF_ERROR(m.StringList("tags", &tags));
  if (tags.size() > kMaxTags) return m.Error("tags", absl::StrCat("at most ", kMaxTags, " tags (", tags.size(), " given)"));
  for (size_t i = 0; i < tags.size(); ++i) {
    if (tags[i].size() < kMinTagLen) {
      return m.ElementError("tags", i, "tag too short (at least 2 characters)");
    }
    if (tags[i].size() > kMaxTagLen) tags[i].resize(kMaxTagLen);
  }
  hook->tags = std::move(tags);
  Items items;
  TGD_RETURN_IF_ERROR(m.List("args", &items));
  if (items.size() > kMaxArgs) {
    return m.Error("args", absl::StrCat("at most ", kMaxArgs, " args (", items.size(), " given)"));
  }
  for (const auto& [n, p] : items) {
    ArgSpec a;
    TGD_RETURN_IF_ERROR(ParseArg(budget, n, p, hook->kind, &a));
    hook->args.push_back(std::move(a));
  }
  TGD_RETURN_IF_ERROR(m.List("data", &items));  // only kprobes/uprobes allow the key
  if (items.size() > kMaxArgs) {
    return m.Error("data", absl::StrCat("at most ", kMaxArgs, " data args (", items.size(), " given)"));
  }
  for (const auto& [n, p] : items) {
    ArgSpec a;
    TGD_RETURN_IF_ERROR(ParseArg(budget, n, p, HookKind::kUprobe, &a));
    hook->data.push_back(std::move(a));
  }
  return absl::OkStatus();
}

absl::Status ParseSelectors(Budget* budget, const MapReader& m, const TracingPolicy& policy, Hook* hook) {
  Items items;
  TGD_RETURN_IF_ERROR(m.List("selectors", &items));
  if (items.size() > kMaxSelectors) {
    return m.Error("selectors", absl::StrCat("at most ", kMaxSelectors, " selectors per hook (", items.size(), " given)"));
  }
  internal::SelectorContext ctx{budget, hook, &policy};
  for (const auto& [n, p] : items) {
    Selector s;
    TGD_RETURN_IF_ERROR(internal::ParseSelector(ctx, n, p, &s));
    hook->selectors.push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::Status CheckListRef(const MapReader& m, const char* key, const std::string& value, const TracingPolicy& policy) {
  if (!absl::StartsWith(value, "list:")) return absl::OkStatus();
  std::string name = value.substr(5);
  for (const ListSpec& l : policy.lists) {
    if (l.name == name) return absl::OkStatus();
  }
  return m.Error(key, absl::StrCat("list \"", name, "\" is not in spec.lists"));
}

absl::Status ParseHooks(Budget* budget, const MapReader& spec, TracingPolicy* policy) {
  Items items;
  for (HookKind kind : {HookKind::kKprobe, HookKind::kFentry}) {
  TGD_RETURN_IF_ERROR(spec.List(kind == HookKind::kKprobe ? "kprobes" : "fentries", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, p, {"call", "syscall", "return", "message", "args",
                                                                    "returnArg", "returnArgAction", "selectors",
                                                                    "tags", "ignore", "data"}));
    Hook h;
    h.kind = kind;
    h.path = p;
    h.pos = m.pos();
    h.syscall = true;  // CRD default
    TGD_RETURN_IF_ERROR(m.String("call", &h.call, true));
    if (h.call.empty()) return m.Error("call", "must not be empty");
    TGD_RETURN_IF_ERROR(CheckListRef(m, "call", h.call, *policy));
    TGD_RETURN_IF_ERROR(m.Bool("syscall", &h.syscall));
    TGD_RETURN_IF_ERROR(m.Bool("return", &h.is_return));
    TGD_RETURN_IF_ERROR(ParseCommon(budget, m, &h));
    if (m.Has("returnArg")) {
      ArgSpec ra;
      TGD_RETURN_IF_ERROR(ParseArg(budget, m.Get("returnArg"), m.PathOf("returnArg"), HookKind::kUprobe, &ra));
      h.return_arg = std::move(ra);
    }
    if (h.is_return && !h.return_arg) return m.Error("return", "true needs returnArg");
    TGD_RETURN_IF_ERROR(m.String("returnArgAction", &h.return_arg_action));
    if (!h.return_arg_action.empty()) {
      const std::string& a = h.return_arg_action;
      // As Tetragon's loader: only the socket actions (it refuses Post,
      // which the return probe does anyway: omit the field).
      if (a != "TrackSock" && a != "UntrackSock") {
        return m.Error("returnArgAction", absl::StrCat("\"", a,
                                                       "\" is not supported; omit returnArgAction or use TrackSock or "
                                                       "UntrackSock (as Tetragon)"));
      }
      if (!h.return_arg) return m.Error("returnArgAction", "needs returnArg");
      if (h.return_arg->type != "sock" && h.return_arg->type != "auto") {
        return m.Error("returnArgAction", absl::StrCat(a, " needs a returnArg of type sock, not ", h.return_arg->type));
      }
    }
    if (m.Has("ignore")) {
      TGD_ASSIGN_OR_RETURN(MapReader ig, MapReader::Open(budget, m.Get("ignore"), m.PathOf("ignore"), {"callNotFound"}));
      TGD_RETURN_IF_ERROR(ig.Bool("callNotFound", &h.ignore_call_not_found));
    }
    TGD_RETURN_IF_ERROR(ParseSelectors(budget, m, *policy, &h));
    policy->hooks.push_back(std::move(h));
  }
  }
  TGD_RETURN_IF_ERROR(spec.List("tracepoints", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, p, {"subsystem", "event", "raw", "message", "args",
                                                                    "selectors", "tags"}));
    Hook h;
    h.path = p;
    h.pos = m.pos();
    bool raw = false;
    TGD_RETURN_IF_ERROR(m.Bool("raw", &raw));
    h.kind = raw ? HookKind::kRawTracepoint : HookKind::kTracepoint;
    TGD_RETURN_IF_ERROR(m.String("subsystem", &h.subsystem, true));
    TGD_RETURN_IF_ERROR(m.String("event", &h.event, true));
    if (h.subsystem.empty()) return m.Error("subsystem", "must not be empty");
    if (h.event.empty()) return m.Error("event", "must not be empty");
    TGD_RETURN_IF_ERROR(ParseCommon(budget, m, &h));
    TGD_RETURN_IF_ERROR(ParseSelectors(budget, m, *policy, &h));
    policy->hooks.push_back(std::move(h));
  }
  TGD_RETURN_IF_ERROR(spec.List("lsmhooks", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, p, {"hook", "message", "args", "selectors", "tags"}));
    Hook h;
    h.kind = HookKind::kLsm;
    h.path = p;
    h.pos = m.pos();
    TGD_RETURN_IF_ERROR(m.String("hook", &h.call, true));
    if (h.call.empty()) return m.Error("hook", "must not be empty");
    TGD_RETURN_IF_ERROR(ParseCommon(budget, m, &h));
    TGD_RETURN_IF_ERROR(ParseSelectors(budget, m, *policy, &h));
    policy->hooks.push_back(std::move(h));
  }
  TGD_RETURN_IF_ERROR(spec.List("uprobes", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, p, {"path", "symbols", "offsets", "refCtrOffsets",
                                                                    "message", "args", "selectors", "tags",
                                                                    "btfPath", "addrs", "data", "return",
                                                                    "returnArg", "binaryDigests", "ignore"}));
    Hook h;
    h.kind = HookKind::kUprobe;
    h.path = p;
    h.pos = m.pos();
    TGD_RETURN_IF_ERROR(m.String("path", &h.binary_path, true));
    if (h.binary_path.empty()) return m.Error("path", "must not be empty");
    TGD_RETURN_IF_ERROR(m.StringList("symbols", &h.symbols));
    for (const char* key : {"offsets", "refCtrOffsets", "addrs"}) {
      Items offs;
      TGD_RETURN_IF_ERROR(m.List(key, &offs));
      std::vector<uint64_t>& dst = std::string(key) == "offsets" ? h.offsets
                                   : std::string(key) == "addrs" ? h.addrs
                                                                 : h.ref_ctr_offsets;
      for (const auto& [on, op] : offs) {
        int64_t off;
        TGD_RETURN_IF_ERROR(internal::ScalarInt(budget, on, op, 0, INT64_MAX, &off));
        dst.push_back(static_cast<uint64_t>(off));
      }
    }
    // The CRD: at most one of symbols, addrs and offsets.
    if ((!h.symbols.empty()) + (!h.offsets.empty()) + (!h.addrs.empty()) > 1) {
      return m.Error(!h.addrs.empty() ? "addrs" : "offsets", "uprobe needs at most one of symbols, addrs or offsets");
    }
    if (h.symbols.empty() && h.offsets.empty() && h.addrs.empty()) {
      return m.Error("symbols", "a uprobe needs symbols, offsets or addrs");
    }
    if (!h.ref_ctr_offsets.empty() &&
        h.ref_ctr_offsets.size() != std::max({h.symbols.size(), h.offsets.size(), h.addrs.size()})) {
      return m.Error("refCtrOffsets", "needs one entry per symbol, offset or address");
    }
    TGD_RETURN_IF_ERROR(m.String("btfPath", &h.btf_path));
    TGD_RETURN_IF_ERROR(m.StringList("binaryDigests", &h.binary_digests));
    TGD_RETURN_IF_ERROR(m.Bool("return", &h.is_return));
    if (m.Has("returnArg")) {
      ArgSpec ra;
      TGD_RETURN_IF_ERROR(ParseArg(budget, m.Get("returnArg"), m.PathOf("returnArg"), HookKind::kUprobe, &ra));
      h.return_arg = std::move(ra);
    }
    if (h.is_return && !h.return_arg) return m.Error("return", "true needs returnArg");
    if (m.Has("ignore")) {
      TGD_ASSIGN_OR_RETURN(MapReader ig, MapReader::Open(budget, m.Get("ignore"), m.PathOf("ignore"),
                                                         {"digestVerificationFailure"}));
      TGD_RETURN_IF_ERROR(ig.Bool("digestVerificationFailure", &h.ignore_digest_verification_failure));
    }
    if (!h.symbols.empty()) h.call = h.symbols[0];
    TGD_RETURN_IF_ERROR(ParseCommon(budget, m, &h));
    TGD_RETURN_IF_ERROR(ParseSelectors(budget, m, *policy, &h));
    policy->hooks.push_back(std::move(h));
  }
  TGD_RETURN_IF_ERROR(spec.List("usdts", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, p, {"path", "provider", "name", "message", "args",
                                                                    "selectors", "tags", "btfPath"}));
    Hook h;
    h.kind = HookKind::kUsdt;
    h.path = p;
    h.pos = m.pos();
    TGD_RETURN_IF_ERROR(m.String("path", &h.binary_path, true));
    TGD_RETURN_IF_ERROR(m.String("provider", &h.provider, true));
    TGD_RETURN_IF_ERROR(m.String("name", &h.call, true));
    TGD_RETURN_IF_ERROR(m.String("btfPath", &h.btf_path));
    TGD_RETURN_IF_ERROR(ParseCommon(budget, m, &h));
    TGD_RETURN_IF_ERROR(ParseSelectors(budget, m, *policy, &h));
    policy->hooks.push_back(std::move(h));
  }
  return absl::OkStatus();
}

absl::Status ParseSpec(Budget* budget, const YAML::Node& node, TracingPolicy* policy) {
  TGD_ASSIGN_OR_RETURN(
      MapReader spec,
      MapReader::Open(budget, node, "spec",
                      {"kprobes", "tracepoints", "lsmhooks", "uprobes", "usdts", "loader", "podSelector",
                       "containerSelector", "hostSelector", "lists", "enforcers", "options", "fentries",
                       "nodeSelector", "selectorsMacros"}));
  TGD_RETURN_IF_ERROR(spec.Bool("loader", &policy->loader));
  TGD_RETURN_IF_ERROR(ParseLabelSelector(budget, spec, "podSelector", false, &policy->pod_selector));
  TGD_RETURN_IF_ERROR(ParseLabelSelector(budget, spec, "containerSelector", true, &policy->container_selector));
  if (spec.Get("hostSelector").IsDefined() && policy->namespaced()) {
    return spec.Error("hostSelector", "not allowed in a TracingPolicyNamespaced");
  }
  TGD_RETURN_IF_ERROR(ParseLabelSelector(budget, spec, "hostSelector", false, &policy->host_selector));
  TGD_RETURN_IF_ERROR(ParseLabelSelector(budget, spec, "nodeSelector", false, &policy->node_selector));

  Items items;
  TGD_RETURN_IF_ERROR(spec.List("lists", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, p, {"name", "values", "type", "pattern", "validated"}));
    ListSpec l;
    l.path = p;
    l.pos = m.pos();
    TGD_RETURN_IF_ERROR(m.String("name", &l.name, true));
    if (l.name.empty()) return m.Error("name", "must not be empty");
    for (const ListSpec& other : policy->lists) {
      if (other.name == l.name) return m.Error("name", absl::StrCat("duplicate list name \"", l.name, "\""));
    }
    TGD_RETURN_IF_ERROR(m.StringList("values", &l.values));
    TGD_RETURN_IF_ERROR(m.String("type", &l.type));
    if (!l.type.empty() && l.type != "syscalls" && l.type != "generated_syscalls" && l.type != "generated_ftrace") {
      return m.Error("type", absl::StrCat("\"", l.type, "\" is not syscalls, generated_syscalls or generated_ftrace"));
    }
    if (m.Has("pattern")) {
      std::string pat;
      TGD_RETURN_IF_ERROR(m.String("pattern", &pat));
      l.pattern = pat;
    }
    TGD_RETURN_IF_ERROR(m.Bool("validated", &l.validated));
    policy->lists.push_back(std::move(l));
  }
  TGD_RETURN_IF_ERROR(spec.List("enforcers", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, p, {"calls"}));
    EnforcerSpec e;
    e.path = p;
    e.pos = m.pos();
    TGD_RETURN_IF_ERROR(m.StringList("calls", &e.calls, true));
    for (const std::string& c : e.calls) TGD_RETURN_IF_ERROR(CheckListRef(m, "calls", c, *policy));
    policy->enforcers.push_back(std::move(e));
  }
  TGD_RETURN_IF_ERROR(spec.List("options", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(budget, n, p, {"name", "value"}));
    std::string name, value;
    TGD_RETURN_IF_ERROR(m.String("name", &name, true));
    TGD_RETURN_IF_ERROR(m.String("value", &value));
    for (const auto& o : policy->options) {
      if (o.first == name) return m.Error("name", absl::StrCat("duplicate option \"", name, "\""));
    }
    policy->options.emplace_back(name, value);
  }
  TGD_RETURN_IF_ERROR(internal::ExpandSelectorsMacros(budget, spec));
  return ParseHooks(budget, spec, policy);
}

absl::Status ParseDocument(const YAML::Node& root, TracingPolicy* policy) {
  Budget budget;
  TGD_ASSIGN_OR_RETURN(MapReader doc, MapReader::Open(&budget, root, "", {"apiVersion", "kind", "metadata", "spec"}));
  policy->pos = doc.pos();
  TGD_RETURN_IF_ERROR(doc.String("apiVersion", &policy->api_version, true));
  if (policy->api_version != "cilium.io/v1alpha1") {
    return doc.Error("apiVersion", absl::StrCat("\"", policy->api_version, "\" is not supported (want cilium.io/v1alpha1)"));
  }
  TGD_RETURN_IF_ERROR(doc.String("kind", &policy->kind, true));
  if (policy->kind != "TracingPolicy" && policy->kind != "TracingPolicyNamespaced") {
    return doc.Error("kind", absl::StrCat("\"", policy->kind, "\" is not TracingPolicy or TracingPolicyNamespaced"));
  }
  if (!doc.Has("metadata")) return doc.Error("metadata", "required");
  TGD_ASSIGN_OR_RETURN(
      MapReader meta,
      MapReader::Open(&budget, doc.Get("metadata"), "metadata",
                      {"name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion",
                       "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                       "finalizers", "ownerReferences", "managedFields"}));
  TGD_RETURN_IF_ERROR(meta.String("name", &policy->name, true));
  if (!IsDnsName(policy->name, false)) {
    return meta.Error("name", absl::StrCat("\"", policy->name, "\" is not a lowercase RFC 1123 name"));
  }
  TGD_RETURN_IF_ERROR(meta.String("namespace", &policy->namespace_, policy->namespaced()));
  if (!policy->namespaced() && !policy->namespace_.empty()) {
    return meta.Error("namespace", "not allowed on the cluster-scoped kind TracingPolicy");
  }
  if (policy->namespaced() && !IsDnsName(policy->namespace_, true)) {
    return meta.Error("namespace", absl::StrCat("\"", policy->namespace_, "\" is not a valid namespace name"));
  }
  TGD_RETURN_IF_ERROR(ParseStringMap(&budget, meta, "labels", &policy->labels));
  TGD_RETURN_IF_ERROR(ParseStringMap(&budget, meta, "annotations", &policy->annotations));
  if (!doc.Get("spec").IsDefined()) return doc.Error("spec", "required");
  return ParseSpec(&budget, doc.Get("spec"), policy);
}

// Offset of the first byte that is not part of well-formed UTF-8, or npos.
size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xc2 && c <= 0xdf) n = 1, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 2, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 3, cp = c & 0x07;
    else return i;
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
      return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

absl::StatusOr<std::vector<YAML::Node>> LoadDocuments(std::string_view yaml) {
  if (yaml.size() > kMaxPolicyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy is ", yaml.size(), " bytes; the limit is ", kMaxPolicyBytes));
  }
  if (size_t bad = FirstInvalidUtf8(yaml); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("yaml: not valid UTF-8 at byte offset ", bad));
  }
  // Shape limits first: no node is built for an input that exceeds them.
  TGD_RETURN_IF_ERROR(internal::CheckYamlShape(yaml));
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(yaml));
    docs.erase(std::remove_if(docs.begin(), docs.end(), [](const YAML::Node& n) { return n.IsNull(); }),
               docs.end());
    return docs;
  } catch (const YAML::Exception& e) {
    Pos pos;
    if (!e.mark.is_null()) pos = Pos{e.mark.line + 1, e.mark.column + 1};
    return ErrorAt(pos, "yaml", e.msg);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("yaml: ", e.what()));
  }
}

absl::Status ParseRoot(const YAML::Node& root, TracingPolicy* policy) {
  try {
    return ParseDocument(root, policy);
  } catch (const YAML::Exception& e) {
    Pos pos;
    if (!e.mark.is_null()) pos = Pos{e.mark.line + 1, e.mark.column + 1};
    return ErrorAt(pos, "yaml", e.msg);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("yaml: ", e.what()));
  }
}

}  // namespace

namespace internal {

absl::Status ParseWorkloadSelector(Budget* budget, const MapReader& parent, const char* key, bool container,
                                   std::optional<labels::LabelSelector>* out) {
  return ParseLabelSelector(budget, parent, key, container, out);
}

}  // namespace internal

absl::StatusOr<std::vector<TracingPolicy>> ParsePolicies(std::string_view yaml) {
  TGD_ASSIGN_OR_RETURN(std::vector<YAML::Node> docs, LoadDocuments(yaml));
  std::vector<TracingPolicy> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (const YAML::Node& root : docs) {
    TracingPolicy p;
    TGD_RETURN_IF_ERROR(ParseRoot(root, &p));
    if (!seen.insert({p.namespace_, p.name}).second) {
      return ErrorAt(p.pos, "metadata.name", absl::StrCat("duplicate policy name \"", p.name, "\" in this input"));
    }
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<TracingPolicy> ParsePolicy(std::string_view yaml) {
  TGD_ASSIGN_OR_RETURN(std::vector<YAML::Node> docs, LoadDocuments(yaml));
  if (docs.size() != 1) {
    if (docs.empty()) return absl::InvalidArgumentError("expected one YAML document, got none");
    return absl::InvalidArgumentError(
        absl::StrCat("expected one YAML document, got ", docs.size(), " (add them one by one)"));
  }
  TracingPolicy p;
  TGD_RETURN_IF_ERROR(ParseRoot(docs[0], &p));
  return p;
}

}  // namespace tgd::policy
