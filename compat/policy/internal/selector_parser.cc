// Selector parsing: the structural shape from the CRD, the checks from
// Tetragon's selector compiler (pkg/selectors), and the hook-capability checks
// of its sensors (e.g. Override).
#include "compat/policy/internal/selector_parser.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "compat/policy/arg_index.h"
#include "compat/policy/capabilities.h"
#include "compat/policy/lists.h"
#include "compat/policy/internal/vocab.h"
#include "sensor/base/status_macros.h"

namespace tgd::policy::internal {
namespace {

using Items = std::vector<std::pair<YAML::Node, std::string>>;

constexpr size_t kMaxBinaryPath = 255;     // BINARY_PATH_MAX_LEN - 1
constexpr size_t kMaxPrefixLen = 256;      // StringPrefixMaxLength
constexpr size_t kMaxPostfixLen = 127;     // StringPostfixMaxLength - 1
constexpr size_t kMaxStringLen = 4096;     // largest string map entry
constexpr size_t kMaxSubstringLen = 99;    // substringMaxLen - 1

bool IsIn(const std::string& op) { return op == "In" || op == "NotIn"; }

std::string DeclaredIndices(const std::vector<ArgSpec>& args) {
  if (args.empty()) return "no args are declared";
  std::vector<int> idx;
  for (const ArgSpec& a : args) idx.push_back(a.index);
  return absl::StrCat("declared: ", absl::StrJoin(idx, ", "));
}

const ArgSpec* FindArg(const Hook& hook, int64_t index) {
  for (const ArgSpec& a : hook.args) {
    if (a.index == index) return &a;
  }
  return nullptr;
}

// Checks that an action's arg-index parameter names a declared argument.
absl::Status CheckActionArg(const SelectorContext& ctx, const MapReader& m, const char* key, int64_t index,
                            const char* want_type = nullptr) {
  const ArgSpec* a = FindArg(*ctx.hook, index);
  if (a == nullptr) {
    return m.Error(key, absl::StrCat("argument index ", index, " is not declared in args (",
                                     DeclaredIndices(ctx.hook->args), ")"));
  }
  if (want_type != nullptr && a->type != want_type && a->type != "auto") {
    return m.Error(key, absl::StrCat("argument ", index, " has type ", a->type, "; want ", want_type));
  }
  return absl::OkStatus();
}

absl::Status ParseAction(const SelectorContext& ctx, const YAML::Node& node, const std::string& path,
                         bool at_return, MatchAction* out) {
  TGD_ASSIGN_OR_RETURN(MapReader m,
                       MapReader::Open(ctx.budget, node, path,
                                       {"action", "argError", "argFd", "argFqdn", "argName", "argSig",
                                        "argSock", "argUrl", "argIndex", "argValue", "imaHash",
                                        "kernelStackTrace", "rateLimit", "rateLimitScope",
                                        "userStackTrace", "argRegs", "argNewSymbol", "argNewAddr",
                                        "argNewOffset"}));
  out->path = path;
  out->pos = m.pos();
  std::string action;
  TGD_RETURN_IF_ERROR(m.String("action", &action, true));
  std::string hint;
  std::optional<std::string> canonical = CanonicalAction(action, &hint);
  if (!canonical) {
    if (!hint.empty()) return m.Error("action", absl::StrCat("unknown action \"", action, "\"; did you mean \"", hint, "\"?"));
    return m.Error("action", absl::StrCat("unknown action \"", action, "\" (want one of: ", ActionList(), ")"));
  }
  out->action = *canonical;
  const std::string& a = out->action;
  int64_t v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argError", INT32_MIN, INT32_MAX, &v));
  out->arg_error = static_cast<int32_t>(v);
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argSig", 0, UINT32_MAX, &v));
  out->arg_sig = static_cast<uint32_t>(v);
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argFd", 0, UINT32_MAX, &v));
  out->arg_fd = static_cast<uint32_t>(v);
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argName", 0, UINT32_MAX, &v));
  out->arg_name = static_cast<uint32_t>(v);
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argSock", 0, UINT32_MAX, &v));
  out->arg_sock = static_cast<uint32_t>(v);
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argIndex", 0, UINT32_MAX, &v));
  out->arg_index = static_cast<uint32_t>(v);
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argValue", 0, UINT32_MAX, &v));
  out->arg_value = static_cast<uint32_t>(v);
  TGD_RETURN_IF_ERROR(m.StringList("argRegs", &out->arg_regs));
  TGD_RETURN_IF_ERROR(m.String("argNewSymbol", &out->arg_new_symbol));
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argNewAddr", 0, INT64_MAX, &v));
  out->arg_new_addr = static_cast<uint64_t>(v);
  v = 0;
  TGD_RETURN_IF_ERROR(m.Int("argNewOffset", INT64_MIN, INT64_MAX, &v));
  out->arg_new_offset = v;
  for (const char* key : {"argRegs", "argNewSymbol", "argNewAddr", "argNewOffset"}) {
    if (m.Has(key) && (a != "Override" || ctx.hook->kind != HookKind::kUprobe)) {
      return m.Error(key, "only valid with the Override action on uprobes");
    }
  }
  TGD_RETURN_IF_ERROR(m.String("argUrl", &out->arg_url));
  TGD_RETURN_IF_ERROR(m.String("argFqdn", &out->arg_fqdn));
  TGD_RETURN_IF_ERROR(m.String("rateLimit", &out->rate_limit));
  TGD_RETURN_IF_ERROR(m.String("rateLimitScope", &out->rate_limit_scope));
  TGD_RETURN_IF_ERROR(m.Bool("kernelStackTrace", &out->kernel_stack_trace));
  TGD_RETURN_IF_ERROR(m.Bool("userStackTrace", &out->user_stack_trace));
  TGD_RETURN_IF_ERROR(m.Bool("imaHash", &out->ima_hash));

  // Post-only parameters.
  for (const char* key : {"rateLimit", "rateLimitScope", "kernelStackTrace", "userStackTrace", "imaHash"}) {
    if (m.Has(key) && a != "Post") {
      return m.Error(key, absl::StrCat("only valid with the Post action, not ", a));
    }
  }
  if (!out->rate_limit.empty()) {
    TGD_RETURN_IF_ERROR([&]() -> absl::Status {
      absl::Status s = ParseRateLimit(out->rate_limit, &out->rate_limit_ms);
      return s.ok() ? s : m.Error("rateLimit", s.message());
    }());
  }
  if (!out->rate_limit_scope.empty()) {
    if (out->rate_limit.empty()) return m.Error("rateLimitScope", "needs rateLimit");
    if (out->rate_limit_scope != "thread" && out->rate_limit_scope != "process" &&
        out->rate_limit_scope != "global") {
      return m.Error("rateLimitScope", absl::StrCat("\"", out->rate_limit_scope,
                                                    "\" is not thread, process or global"));
    }
  }

  const HookKind kind = ctx.hook->kind;
  if (a == "FollowFD" || a == "CopyFD") {
    TGD_RETURN_IF_ERROR(CheckActionArg(ctx, m, "argFd", out->arg_fd));
    TGD_RETURN_IF_ERROR(CheckActionArg(ctx, m, "argName", out->arg_name));
  } else if (a == "UnfollowFD") {
    TGD_RETURN_IF_ERROR(CheckActionArg(ctx, m, "argFd", out->arg_fd));
  } else if (a == "TrackSock" || a == "UntrackSock") {
    TGD_RETURN_IF_ERROR(CheckActionArg(ctx, m, "argSock", out->arg_sock, "sock"));
  } else if (a == "Signal") {
    if (!m.Has("argSig")) return m.Error("argSig", "required by the Signal action");
    if (out->arg_sig < 1 || out->arg_sig > 64) return m.Error("argSig", absl::StrCat(out->arg_sig, " is not a signal number (1-64)"));
  } else if (a == "GetUrl") {
    if (out->arg_url.empty()) return m.Error("argUrl", "required by the GetUrl action");
  } else if (a == "DnsLookup") {
    if (out->arg_fqdn.empty()) return m.Error("argFqdn", "required by the DnsLookup action");
  } else if (a == "NotifyEnforcer") {
    if (ctx.policy->enforcers.empty()) {
      return m.Error("action", "NotifyEnforcer needs spec.enforcers, and the policy has none");
    }
  } else if (a == "Set") {
    if (kind != HookKind::kUsdt) return m.Error("action", "Set is only supported on usdts");
    TGD_RETURN_IF_ERROR(CheckActionArg(ctx, m, "argIndex", out->arg_index));
  } else if (a == "Override") {
    if (at_return) return m.Error("action", "Override cannot run at function return (use matchActions)");
    switch (kind) {
      case HookKind::kFentry:
      case HookKind::kKprobe:   // non-syscall calls are checked against the kernel's error injection list at load
      case HookKind::kLsm:
      case HookKind::kUprobe:
        break;
      case HookKind::kTracepoint:
      case HookKind::kRawTracepoint:
        return m.Error("action", "Override is not possible on a tracepoint (use a kprobe on the syscall or an LSM hook)");
      case HookKind::kUsdt:
        return m.Error("action", "Override is not possible on a usdt");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseActions(const SelectorContext& ctx, const MapReader& sel, const char* key, bool at_return,
                          std::vector<MatchAction>* out) {
  Items items;
  TGD_RETURN_IF_ERROR(sel.List(key, &items));
  if (items.size() > kMaxActions) {
    return sel.Error(key, absl::StrCat("at most ", kMaxActions, " actions per selector (", items.size(), " given)"));
  }
  for (const auto& [n, p] : items) {
    MatchAction act;
    TGD_RETURN_IF_ERROR(ParseAction(ctx, n, p, at_return, &act));
    out->push_back(std::move(act));
  }
  return absl::OkStatus();
}

// Value checks of one matchArgs entry against its argument type.
absl::Status CheckArgValues(const SelectorContext& ctx, const MapReader& m, const MatchArg& arg,
                            const std::string& type) {
  const std::string& op = arg.op;
  const ArgClass cls = ClassOf(type);
  const bool is_int = cls == ArgClass::kSigned || cls == ArgClass::kUnsigned;
  const bool is_sock = cls == ArgClass::kSock || cls == ArgClass::kSockaddr;
  const int bits = IntBits(type);
  auto bad_type = [&](absl::string_view want) {
    return m.Error("operator", absl::StrCat("operator ", op, " does not apply to argument ", arg.index,
                                            " of type ", type, " (", want, ")"));
  };
  auto value_error = [&](size_t i, const absl::Status& s) {
    return m.ElementError("values", i, s.message());
  };
  auto max_values = [&](size_t n) -> absl::Status {
    if (arg.values.size() > n) {
      return m.Error("values", absl::StrCat("operator ", op, " takes at most ", n, " values (",
                                            arg.values.size(), " given); use InMap or NotInMap for more"));
    }
    return absl::OkStatus();
  };
  // Integers as writeMatchValues parses them (base 0, width of the type).
  auto int_values = [&]() -> absl::Status {
    TGD_RETURN_IF_ERROR(max_values(kMaxMatchValues));
    for (size_t i = 0; i < arg.values.size(); ++i) {
      absl::Status s;
      if (cls == ArgClass::kCaps) {
        s = CheckCapabilityMask(arg.values[i]);
      } else if (cls == ArgClass::kSigned) {
        int64_t x;
        s = ParseSigned(arg.values[i], bits == 64 ? 64 : 32, &x);
      } else {
        uint64_t x;
        s = ParseUnsigned(arg.values[i], bits == 64 ? 64 : 32, &x);
      }
      if (!s.ok()) return value_error(i, s);
    }
    return absl::OkStatus();
  };
  auto no_values = [&]() -> absl::Status {
    if (!arg.values.empty()) return m.Error("values", absl::StrCat("operator ", op, " takes no values"));
    return absl::OkStatus();
  };

  if (cls == ArgClass::kAuto) return absl::OkStatus();  // resolved from BTF at load time

  if (op == "Equal" || op == "NotEqual") {
    if (cls == ArgClass::kString) {
      for (size_t i = 0; i < arg.values.size(); ++i) {
        if (arg.values[i].size() > kMaxStringLen) {
          return value_error(i, absl::InvalidArgumentError(absl::StrCat("longer than ", kMaxStringLen, " bytes")));
        }
      }
      return absl::OkStatus();
    }
    if (is_int || cls == ArgClass::kCaps) return int_values();
    return bad_type("Equal and NotEqual take integer, capability or string-like arguments");
  }
  if (op == "GT" || op == "LT" || op == "Mask") {
    if (is_int || cls == ArgClass::kCaps) return int_values();
    return bad_type("it takes integer arguments");
  }
  if (op == "Prefix" || op == "NotPrefix" || op == "Postfix" || op == "NotPostfix") {
    if (cls != ArgClass::kString && cls != ArgClass::kPathLike) return bad_type("it takes string-like arguments");
    size_t limit = absl::StrContains(op, "Prefix") ? kMaxPrefixLen : kMaxPostfixLen;
    for (size_t i = 0; i < arg.values.size(); ++i) {
      if (arg.values[i].size() > limit) {
        return value_error(i, absl::InvalidArgumentError(absl::StrCat("longer than ", limit, " bytes, the ", op, " limit")));
      }
    }
    return absl::OkStatus();
  }
  if (op == "SubString" || op == "SubStringIgnCase") {
    static constexpr const char* kSubstringTypes[] = {"fd", "file", "path", "dentry", "string", "char_buf",
                                                       "linux_binprm", "data_loc", "net_device", "sockaddr_un"};
    if (std::find(std::begin(kSubstringTypes), std::end(kSubstringTypes), type) == std::end(kSubstringTypes)) {
      return bad_type("it takes string-like, path and char_buf arguments");
    }
    for (size_t i = 0; i < arg.values.size(); ++i) {
      if (arg.values[i].size() > kMaxSubstringLen) {
        return value_error(i, absl::InvalidArgumentError(absl::StrCat("longer than ", kMaxSubstringLen, " bytes")));
      }
    }
    return absl::OkStatus();
  }
  if (op == "InMap" || op == "NotInMap") {
    if (!is_int) return bad_type("it takes integer arguments");
    for (size_t i = 0; i < arg.values.size(); ++i) {
      const std::string& v = arg.values[i];
      if (absl::StartsWith(v, "list:")) {
        std::string name = v.substr(5);
        bool found = std::any_of(ctx.policy->lists.begin(), ctx.policy->lists.end(),
                                 [&](const ListSpec& l) { return l.name == name; });
        if (!found) return value_error(i, absl::InvalidArgumentError(absl::StrCat("list \"", name, "\" is not in spec.lists")));
        continue;
      }
      std::vector<absl::string_view> parts = absl::StrSplit(v, ':');
      if (parts.size() > 2) return value_error(i, absl::InvalidArgumentError(absl::StrCat("\"", v, "\" is not a value or a range 'min:max'")));
      for (absl::string_view p : parts) {
        absl::Status s;
        if (cls == ArgClass::kSigned) {
          int64_t x;
          s = p.empty() || (p[0] != '-' && !absl::ascii_isdigit(p[0])) ? absl::InvalidArgumentError(absl::StrCat("\"", v, "\" is not a decimal integer"))
                                                                         : ParseSigned(p, 64, &x);
        } else {
          uint64_t x;
          s = ParseDecimalUnsigned(p, &x);
        }
        if (!s.ok()) return value_error(i, s);
      }
    }
    return absl::OkStatus();
  }
  if (op == "InRange" || op == "NotInRange") {
    if (!is_int) return bad_type("it takes integer arguments");
    TGD_RETURN_IF_ERROR(max_values(kMaxMatchValues));
    for (size_t i = 0; i < arg.values.size(); ++i) {
      std::vector<absl::string_view> parts = absl::StrSplit(arg.values[i], ':');
      if (parts.size() != 2) {
        return value_error(i, absl::InvalidArgumentError(absl::StrCat("\"", arg.values[i], "\" is not a range 'min:max'")));
      }
      for (absl::string_view p : parts) {
        int64_t x;
        absl::Status s = ParseSigned(p, 64, &x);
        if (s.ok() && bits < 64 && x > int64_t{UINT32_MAX}) s = absl::InvalidArgumentError(absl::StrCat("\"", p, "\" is over the 32-bit limit"));
        if (!s.ok()) return value_error(i, s);
      }
    }
    return absl::OkStatus();
  }
  if (op == "SPort" || op == "NotSPort" || op == "DPort" || op == "NotDPort" || op == "Protocol" ||
      op == "Family" || op == "State") {
    if (!is_sock) return bad_type("it takes sock, socket, skb or sockaddr arguments");
    if (cls == ArgClass::kSockaddr && (op == "DPort" || op == "NotDPort" || op == "Protocol" || op == "State")) {
      return bad_type("sockaddr supports only [Not]SAddr, [Not]SPort[Priv] and Family");
    }
    for (size_t i = 0; i < arg.values.size(); ++i) {
      const std::string& v = arg.values[i];
      absl::Status s;
      if (absl::StrContains(op, "Port")) {
        s = CheckPortOrRange(v);
      } else if (v.find(':') != std::string::npos) {
        std::vector<absl::string_view> parts = absl::StrSplit(v, ':');
        uint64_t x;
        for (absl::string_view p : parts) {
          if (s.ok() && (parts.size() != 2 || !ParseDecimalUnsigned(p, &x).ok())) {
            s = absl::InvalidArgumentError(absl::StrCat("\"", v, "\" is not a numeric range 'min:max'"));
          }
        }
      } else if (op == "Protocol") {
        s = CheckProtocol(v);
      } else if (op == "Family") {
        s = CheckFamily(v);
      } else {
        s = CheckTcpState(v);
      }
      if (!s.ok()) return value_error(i, s);
    }
    return absl::OkStatus();
  }
  if (op == "SAddr" || op == "NotSAddr" || op == "DAddr" || op == "NotDAddr") {
    if (!is_sock) return bad_type("it takes sock, socket, skb or sockaddr arguments");
    if (cls == ArgClass::kSockaddr && (op == "DAddr" || op == "NotDAddr")) {
      return bad_type("sockaddr supports only [Not]SAddr, [Not]SPort[Priv] and Family");
    }
    for (size_t i = 0; i < arg.values.size(); ++i) {
      if (absl::Status s = CheckIpOrCidr(arg.values[i]); !s.ok()) return value_error(i, s);
    }
    return absl::OkStatus();
  }
  if (op == "SPortPriv" || op == "NotSportPriv" || op == "DPortPriv" || op == "NotDPortPriv") {
    if (!is_sock) return bad_type("it takes sock, socket, skb or sockaddr arguments");
    if (cls == ArgClass::kSockaddr && (op == "DPortPriv" || op == "NotDPortPriv")) {
      return bad_type("sockaddr supports only [Not]SAddr, [Not]SPort[Priv] and Family");
    }
    return no_values();
  }
  if (op == "FileType" || op == "NotFileType") {
    if (type != "file" && type != "path") return bad_type("it takes file or path arguments");
    TGD_RETURN_IF_ERROR(max_values(kMaxMatchValues));
    for (size_t i = 0; i < arg.values.size(); ++i) {
      if (absl::Status s = CheckFileType(arg.values[i]); !s.ok()) return value_error(i, s);
    }
    return absl::OkStatus();
  }
  return absl::OkStatus();  // CapabilitiesGained is checked by the caller
}

// InMap/NotInMap "list:NAME" values: syscall lists over a syscall64
// argument, resolved to ids (as Tetragon's listReader).
absl::Status ResolveListValues(const SelectorContext& ctx, const MapReader& m, const std::string& type,
                               MatchArg* out) {
  if (out->op != "InMap" && out->op != "NotInMap") return absl::OkStatus();
  for (size_t i = 0; i < out->values.size(); ++i) {
    const ListSpec* list = FindList(*ctx.policy, out->values[i]);
    if (list == nullptr) continue;  // not a list value (a missing list is reported by CheckArgValues)
    if (!IsSyscallListType(list->type)) {
      return m.ElementError("values", i, absl::StrCat("list '", list->name, "' is not syscall type"));
    }
    if (type != "syscall64") {
      return m.ElementError("values", i, absl::StrCat("list '", list->name, "' argument type is not syscall64"));
    }
    absl::StatusOr<std::vector<uint32_t>> ids = SyscallListIds(*list);
    if (!ids.ok()) return m.ElementError("values", i, ids.status().message());
    out->list_ids.insert(out->list_ids.end(), ids->begin(), ids->end());
  }
  return absl::OkStatus();
}

absl::Status ParseMatchArg(const SelectorContext& ctx, const YAML::Node& node, const std::string& path,
                           bool is_return, MatchArg* out, bool is_data = false) {
  TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(ctx.budget, node, path, {"index", "operator", "values", "args"}));
  out->path = path;
  out->pos = m.pos();
  int64_t index = 0;
  TGD_RETURN_IF_ERROR(m.Int("index", 0, INT32_MAX, &index));
  out->index = static_cast<int>(index);
  std::string op;
  TGD_RETURN_IF_ERROR(m.String("operator", &op, true));
  std::optional<std::string> canonical = CanonicalArgOperator(op);
  if (!canonical) {
    return m.Error("operator", absl::StrCat("unknown operator \"", op, "\" (want one of: ", ArgOperatorList(), ")"));
  }
  out->op = *canonical;
  TGD_RETURN_IF_ERROR(m.StringList("values", &out->values));
  Items arg_items;
  TGD_RETURN_IF_ERROR(m.List("args", &arg_items));
  for (const auto& [n, p] : arg_items) {
    int64_t a;
    TGD_RETURN_IF_ERROR(ScalarInt(ctx.budget, n, p, 0, INT32_MAX, &a));
    out->args.push_back(static_cast<uint32_t>(a));
  }

  // The argument this filter reads.
  const Hook& hook = *ctx.hook;
  std::string type;
  if (is_data) {
    // matchData: the index is a position in `data` (selectors.dataIndexType).
    const std::vector<ArgSpec>& data = hook.data;
    uint32_t idx = out->args.empty() ? static_cast<uint32_t>(out->index) : out->args[0];
    if (idx >= data.size()) {
      return m.Error(out->args.empty() ? "index" : "args",
                     absl::StrCat("matchData index ", idx, " is out of bounds (", data.size(), " data args declared)"));
    }
    type = data[idx].type;
    if (ClassOf(type) == ArgClass::kOther && type != "auto") {
      return m.Error("operator", absl::StrCat("data argument ", idx, " of type ", type, " cannot be filtered"));
    }
    return CheckArgValues(ctx, m, *out, type);
  } else if (is_return) {
    if (!hook.return_arg) return m.Error("operator", "matchReturnArgs needs the hook's returnArg");
    type = hook.return_arg->type;
  } else if (!out->args.empty()) {
    for (size_t i = 0; i < out->args.size(); ++i) {
      if (out->args[i] >= hook.args.size()) {
        return m.ElementError("args", i, absl::StrCat("position ", out->args[i], " is past the ", hook.args.size(), " declared args"));
      }
    }
    type = hook.args[out->args[0]].type;
  } else {
    int pos = MatchArgPosition(hook, out->index);
    if (pos < 0) {
      const bool tp = hook.kind == HookKind::kTracepoint || hook.kind == HookKind::kRawTracepoint;
      return m.Error("index", absl::StrCat("argument index ", out->index, " is not declared in args (",
                                           DeclaredIndices(hook.args),
                                           tp ? absl::StrCat("; or a position below ", hook.args.size()) : "",
                                           ")"));
    }
    type = hook.args[pos].type;
  }
  if (out->op == "CapabilitiesGained") {
    if (is_return || out->args.size() != 2) {
      return m.Error("args", "CapabilitiesGained needs args: the positions of the new and the old capability arguments");
    }
    for (uint32_t p : out->args) {
      const std::string& t = hook.args[p].type;
      if (ClassOf(t) != ArgClass::kCaps && t != "auto") {
        return m.Error("args", absl::StrCat("CapabilitiesGained needs capability-typed arguments; position ", p,
                                            " has type ", t));
      }
    }
    return absl::OkStatus();
  }
  if (ClassOf(type) == ArgClass::kOther && type != "auto") {
    return m.Error("operator", absl::StrCat("argument ", out->index, " of type ", type,
                                            " cannot be filtered with matchArgs"));
  }
  TGD_RETURN_IF_ERROR(CheckArgValues(ctx, m, *out, type));
  return ResolveListValues(ctx, m, type, out);
}

absl::Status ParseMatchArgs(const SelectorContext& ctx, const MapReader& sel, const char* key, bool is_return,
                            std::vector<MatchArg>* out) {
  Items items;
  TGD_RETURN_IF_ERROR(sel.List(key, &items));
  for (const auto& [n, p] : items) {
    MatchArg a;
    TGD_RETURN_IF_ERROR(ParseMatchArg(ctx, n, p, is_return, &a, std::string_view(key) == "matchData"));
    out->push_back(std::move(a));
  }
  return absl::OkStatus();
}

absl::Status ParseBinaries(const SelectorContext& ctx, const MapReader& sel, const char* key,
                           std::vector<MatchBinaries>* out) {
  Items items;
  TGD_RETURN_IF_ERROR(sel.List(key, &items));
  if (items.size() > 1) return sel.Error(key, absl::StrCat("only one ", key, " entry per selector (", items.size(), " given)"));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(ctx.budget, n, p, {"operator", "values", "followChildren"}));
    MatchBinaries b;
    b.path = p;
    b.pos = m.pos();
    TGD_RETURN_IF_ERROR(m.String("operator", &b.op, true));
    static constexpr const char* kOps[] = {"In", "NotIn", "Prefix", "NotPrefix", "Postfix", "NotPostfix"};
    if (std::find_if(std::begin(kOps), std::end(kOps), [&](const char* o) { return b.op == o; }) == std::end(kOps)) {
      return m.Error("operator", absl::StrCat("\"", b.op, "\" is not In, NotIn, Prefix, NotPrefix, Postfix or NotPostfix"));
    }
    TGD_RETURN_IF_ERROR(m.StringList("values", &b.values, true));
    TGD_RETURN_IF_ERROR(m.Bool("followChildren", &b.follow_children));
    if (b.follow_children && !IsIn(b.op)) {
      return m.Error("followChildren", absl::StrCat("only supported with In and NotIn, not ", b.op));
    }
    size_t limit = IsIn(b.op) ? kMaxBinaryPath : absl::StrContains(b.op, "Prefix") ? kMaxPrefixLen : kMaxPostfixLen;
    for (size_t i = 0; i < b.values.size(); ++i) {
      if (b.values[i].size() > limit) {
        return m.ElementError("values", i, absl::StrCat("longer than ", limit, " bytes, the ", b.op, " limit"));
      }
    }
    out->push_back(std::move(b));
  }
  return absl::OkStatus();
}

absl::Status InOrNotIn(const MapReader& m, std::string* op) {
  TGD_RETURN_IF_ERROR(m.String("operator", op, true));
  if (!IsIn(*op)) return m.Error("operator", absl::StrCat("\"", *op, "\" is not In or NotIn"));
  return absl::OkStatus();
}

absl::Status ParseCaps(const SelectorContext& ctx, const MapReader& sel, const char* key,
                       std::vector<MatchCapabilities>* out) {
  Items items;
  TGD_RETURN_IF_ERROR(sel.List(key, &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(ctx.budget, n, p, {"type", "operator", "isNamespaceCapability", "values"}));
    MatchCapabilities c;
    c.path = p;
    c.pos = m.pos();
    TGD_RETURN_IF_ERROR(m.String("type", &c.type));
    if (c.type != "Effective" && c.type != "Inheritable" && c.type != "Permitted") {
      return m.Error("type", absl::StrCat("\"", c.type, "\" is not Effective, Inheritable or Permitted"));
    }
    TGD_RETURN_IF_ERROR(InOrNotIn(m, &c.op));
    TGD_RETURN_IF_ERROR(m.Bool("isNamespaceCapability", &c.is_namespace_capability));
    std::vector<std::string> values;
    TGD_RETURN_IF_ERROR(m.StringList("values", &values, true));
    for (size_t i = 0; i < values.size(); ++i) {
      // Upper-cased and looked up in the CapabilitiesType enum, as upstream;
      // stored under the enum's name (CAP_DAC_OVERRIDE becomes DAC_OVERRIDE).
      std::optional<int> bit = CapabilityBit(absl::StripAsciiWhitespace(values[i]));
      if (!bit) {
        return m.ElementError("values", i, absl::StrCat("\"", values[i], "\" is not a capability (e.g. CAP_SYS_ADMIN)"));
      }
      c.values.push_back(CapabilityEnumName(*bit));
    }
    out->push_back(std::move(c));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseSelector(const SelectorContext& ctx, const YAML::Node& node, const std::string& path,
                           Selector* out) {
  TGD_ASSIGN_OR_RETURN(
      MapReader sel,
      MapReader::Open(ctx.budget, node, path,
                      {"matchPIDs", "matchArgs", "matchActions", "matchReturnArgs", "matchReturnActions",
                       "matchBinaries", "matchParentBinaries", "matchNamespaces", "matchNamespaceChanges",
                       "matchCapabilities", "matchCapabilityChanges", "matchData", "label", "matchWorkloads"}));
  out->path = path;
  out->pos = sel.pos();
  TGD_RETURN_IF_ERROR(sel.String("label", &out->label));
  if (sel.Has("matchWorkloads")) {
    TGD_ASSIGN_OR_RETURN(MapReader w, MapReader::Open(ctx.budget, sel.Get("matchWorkloads"), sel.PathOf("matchWorkloads"),
                                                      {"podSelector", "containerSelector", "hostSelector"}));
    MatchWorkloads mw;
    mw.path = w.path();
    mw.pos = w.pos();
    TGD_RETURN_IF_ERROR(ParseWorkloadSelector(ctx.budget, w, "podSelector", false, &mw.pod_selector));
    TGD_RETURN_IF_ERROR(ParseWorkloadSelector(ctx.budget, w, "containerSelector", true, &mw.container_selector));
    TGD_RETURN_IF_ERROR(ParseWorkloadSelector(ctx.budget, w, "hostSelector", false, &mw.host_selector));
    if (mw.host_selector && (!mw.host_selector->match_labels.empty() || !mw.host_selector->match_expressions.empty())) {
      return w.Error("hostSelector", "must be null or {} (all hosts); labels are not supported, as upstream");
    }
    out->match_workloads = std::move(mw);
  }

  // matchPIDs
  Items items;
  TGD_RETURN_IF_ERROR(sel.List("matchPIDs", &items));
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(ctx.budget, n, p, {"operator", "values", "isNamespacePID", "followForks"}));
    MatchPIDs pids;
    pids.path = p;
    pids.pos = m.pos();
    TGD_RETURN_IF_ERROR(InOrNotIn(m, &pids.op));
    Items vals;
    TGD_RETURN_IF_ERROR(m.List("values", &vals, true));
    for (const auto& [vn, vp] : vals) {
      int64_t pid;
      TGD_RETURN_IF_ERROR(ScalarInt(ctx.budget, vn, vp, 0, UINT32_MAX, &pid));
      pids.values.push_back(static_cast<uint32_t>(pid));
    }
    TGD_RETURN_IF_ERROR(m.Bool("isNamespacePID", &pids.is_namespace_pid));
    TGD_RETURN_IF_ERROR(m.Bool("followForks", &pids.follow_forks));
    out->match_pids.push_back(std::move(pids));
  }

  TGD_RETURN_IF_ERROR(ParseMatchArgs(ctx, sel, "matchArgs", false, &out->match_args));
  TGD_RETURN_IF_ERROR(ParseMatchArgs(ctx, sel, "matchData", false, &out->match_data));
  if (out->match_args.size() + out->match_data.size() > kMaxMatchArgs) {
    return sel.Error("matchArgs", absl::StrCat("at most ", kMaxMatchArgs, " matchArgs per selector (",
                                               out->match_args.size() + out->match_data.size(), " given)"));
  }
  TGD_RETURN_IF_ERROR(ParseMatchArgs(ctx, sel, "matchReturnArgs", true, &out->match_return_args));
  if (out->match_return_args.size() > kMaxMatchArgs) {
    return sel.Error("matchReturnArgs", absl::StrCat("at most ", kMaxMatchArgs, " matchReturnArgs per selector"));
  }
  TGD_RETURN_IF_ERROR(ParseActions(ctx, sel, "matchActions", false, &out->match_actions));
  TGD_RETURN_IF_ERROR(ParseActions(ctx, sel, "matchReturnActions", true, &out->match_return_actions));
  TGD_RETURN_IF_ERROR(ParseBinaries(ctx, sel, "matchBinaries", &out->match_binaries));
  TGD_RETURN_IF_ERROR(ParseBinaries(ctx, sel, "matchParentBinaries", &out->match_parent_binaries));

  // matchNamespaces
  TGD_RETURN_IF_ERROR(sel.List("matchNamespaces", &items));
  if (items.size() > kMaxNamespaceFilters) {
    return sel.Error("matchNamespaces", absl::StrCat("at most ", kMaxNamespaceFilters, " entries (", items.size(), " given)"));
  }
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(ctx.budget, n, p, {"namespace", "operator", "values"}));
    MatchNamespaces ns;
    ns.path = p;
    ns.pos = m.pos();
    TGD_RETURN_IF_ERROR(m.String("namespace", &ns.ns, true));
    if (!IsNamespaceType(ns.ns)) {
      return m.Error("namespace", absl::StrCat("\"", ns.ns, "\" is not one of Uts, Ipc, Mnt, Pid, PidForChildren, Net, "
                                                           "Time, TimeForChildren, Cgroup, User"));
    }
    TGD_RETURN_IF_ERROR(InOrNotIn(m, &ns.op));
    TGD_RETURN_IF_ERROR(m.StringList("values", &ns.values, true));
    if (ns.values.size() > kMaxNamespaceValues) {
      return m.Error("values", absl::StrCat("at most ", kMaxNamespaceValues, " values (", ns.values.size(), " given)"));
    }
    for (size_t i = 0; i < ns.values.size(); ++i) {
      uint64_t x;
      if (ns.values[i] != "host_ns" && (!ParseDecimalUnsigned(ns.values[i], &x).ok() || x > UINT32_MAX)) {
        return m.ElementError("values", i, absl::StrCat("\"", ns.values[i], "\" is not a namespace inode number or host_ns"));
      }
    }
    out->match_namespaces.push_back(std::move(ns));
  }

  // matchNamespaceChanges
  TGD_RETURN_IF_ERROR(sel.List("matchNamespaceChanges", &items));
  if (items.size() > 1) return sel.Error("matchNamespaceChanges", "only one entry per selector");
  for (const auto& [n, p] : items) {
    TGD_ASSIGN_OR_RETURN(MapReader m, MapReader::Open(ctx.budget, n, p, {"operator", "values"}));
    MatchNamespaceChanges nc;
    nc.path = p;
    nc.pos = m.pos();
    TGD_RETURN_IF_ERROR(InOrNotIn(m, &nc.op));
    TGD_RETURN_IF_ERROR(m.StringList("values", &nc.values, true));
    for (size_t i = 0; i < nc.values.size(); ++i) {
      bool ok = false;
      for (const char* t : {"Uts", "Ipc", "Mnt", "Pid", "PidForChildren", "Net", "Time", "TimeForChildren", "Cgroup", "User"}) {
        ok = ok || absl::EqualsIgnoreCase(nc.values[i], t);
      }
      if (!ok) {
        return m.ElementError("values", i, absl::StrCat("\"", nc.values[i], "\" is not a namespace type (Uts, Ipc, Mnt, Pid, ...)"));
      }
    }
    out->match_namespace_changes.push_back(std::move(nc));
  }

  TGD_RETURN_IF_ERROR(ParseCaps(ctx, sel, "matchCapabilities", &out->match_capabilities));
  TGD_RETURN_IF_ERROR(ParseCaps(ctx, sel, "matchCapabilityChanges", &out->match_capability_changes));
  return absl::OkStatus();
}

}  // namespace tgd::policy::internal
