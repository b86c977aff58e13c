// The policy compiler (see compile.h): one hook of a parsed TracingPolicy
// into tgd_policy_cfg and value-set entries, plus the spec-level refusals.
#include "sensor/loader/compile.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "bpf/process/process_msg.h"
#include "compat/policy/arg_index.h"
#include "compat/policy/capabilities.h"
#include "compat/policy/spec_options.h"
#include "sensor/loader/arg_resolve.h"
#include "sensor/loader/arg_types.h"
#include "sensor/loader/change_selectors.h"
#include "sensor/loader/compile_internal.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/in_map.h"
#include "sensor/loader/pid_sets.h"
#include "sensor/loader/schema_refusals.h"

namespace tgd {

using compile_internal::CompileActions;
using compile_internal::CompileArgs;
using compile_internal::CompileSelector;
using compile_internal::Invalid;
using compile_internal::Unimplemented;

namespace {

// Tetragon's name for a `syscall: true` kprobe's function: "sys_write" is
// the arch's wrapper "__x64_sys_write" (its AddSyscallPrefix, applied when
// the name as given is not a kernel function: syscalls are not, under their
// sys_ name, on the architectures that have a prefix). The name attached to
// and reported as process_kprobe.function_name.
std::string SyscallSymbol(const std::string& call) {
#if defined(__x86_64__)
  constexpr absl::string_view kPrefix = "__x64_";
#elif defined(__aarch64__)
  constexpr absl::string_view kPrefix = "__arm64_";
#else
  constexpr absl::string_view kPrefix = "";
#endif
  if (kPrefix.empty() || !absl::StartsWith(call, "sys_")) return call;
  return absl::StrCat(kPrefix, call);
}

}  // namespace
namespace compile_internal {

absl::Status Unimplemented(const std::string& path, absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat(path, ": ", what, " is not supported by tgdispatch yet"));
}

}  // namespace compile_internal
namespace {

}  // namespace
namespace compile_internal {

absl::Status Invalid(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

}  // namespace compile_internal
namespace {

// Go-style base-0 integer (0x, 0o, 0b, leading 0 = octal), optional sign.
bool ParseInteger(absl::string_view v, bool is_signed, uint64_t* out) {
  v = absl::StripAsciiWhitespace(v);
  bool neg = false;
  if (absl::ConsumePrefix(&v, "-")) {
    if (!is_signed) return false;
    neg = true;
  } else {
    absl::ConsumePrefix(&v, "+");
  }
  int base = 10;
  if (absl::ConsumePrefix(&v, "0x") || absl::ConsumePrefix(&v, "0X")) {
    base = 16;
  } else if (absl::ConsumePrefix(&v, "0o") || absl::ConsumePrefix(&v, "0O")) {
    base = 8;
  } else if (absl::ConsumePrefix(&v, "0b") || absl::ConsumePrefix(&v, "0B")) {
    base = 2;
  } else if (v.size() > 1 && v[0] == '0') {
    base = 8;
  }
  if (v.empty()) return false;
  uint64_t x = 0;
  for (char c : v) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c == '_') continue;
    else return false;
    if (d >= base) return false;
    if (x > (~0ULL - d) / base) return false;
    x = x * base + d;
  }
  if (neg) {
    if (x > (1ULL << 63)) return false;
    x = ~x + 1;
  }
  *out = x;
  return true;
}

std::optional<uint8_t> NamespaceIndex(absl::string_view ns) {
  static constexpr std::pair<const char*, uint8_t> kNs[] = {
      {"Uts", TGD_NS_UTS}, {"Ipc", TGD_NS_IPC}, {"Mnt", TGD_NS_MNT}, {"Pid", TGD_NS_PID},
      {"PidForChildren", TGD_NS_PID_FOR_CHILDREN}, {"Net", TGD_NS_NET}, {"Time", TGD_NS_TIME},
      {"TimeForChildren", TGD_NS_TIME_FOR_CHILDREN}, {"Cgroup", TGD_NS_CGROUP}, {"User", TGD_NS_USER}};
  for (const auto& [name, idx] : kNs) {
    if (ns == name) return idx;
  }
  return std::nullopt;
}

// /proc/1/ns/<name> file name of a namespace index (for "host_ns").
const char* NsProcName(uint8_t idx) {
  switch (idx) {
    case TGD_NS_UTS: return "uts";
    case TGD_NS_IPC: return "ipc";
    case TGD_NS_MNT: return "mnt";
    case TGD_NS_PID: return "pid";
    case TGD_NS_PID_FOR_CHILDREN: return "pid_for_children";
    case TGD_NS_NET: return "net";
    case TGD_NS_TIME: return "time";
    case TGD_NS_TIME_FOR_CHILDREN: return "time_for_children";
    case TGD_NS_CGROUP: return "cgroup";
    case TGD_NS_USER: return "user";
  }
  return "";
}

uint8_t OpCode(absl::string_view op) {
  if (op == "Equal" || op == "In") return TGD_OP_EQ;
  if (op == "NotEqual" || op == "NotIn") return TGD_OP_NEQ;
  if (op == "Prefix") return TGD_OP_PREFIX;
  if (op == "NotPrefix") return TGD_OP_NOT_PREFIX;
  if (op == "Postfix") return TGD_OP_POSTFIX;
  if (op == "NotPostfix") return TGD_OP_NOT_POSTFIX;
  if (op == "GT" || op == "GreaterThan") return TGD_OP_GT;
  if (op == "LT" || op == "LessThan") return TGD_OP_LT;
  if (op == "Mask") return TGD_OP_MASK;
  return TGD_OP_NONE;
}

bool IsStringOp(uint8_t op) { return op >= TGD_OP_EQ && op <= TGD_OP_NOT_POSTFIX; }

bool IsStringType(absl::string_view t) { return t == "string" || t == "data_loc"; }

// Layout of a tracepoint field for `auto`, from its C type.
absl::Status AutoTracepointArg(const TracepointField& f, bool syscalls, tgd_arg_desc* d, CompiledArg* out,
                               const std::string& path) {
  std::string type = f.type;
  if (absl::StartsWith(type, "__data_loc") && absl::StrContains(type, "char")) {
    d->type = TGD_ARG_DATA_LOC_STR;
    out->render = ArgRender::kString;
    return absl::OkStatus();
  }
  if (absl::StrContains(type, "char") && absl::StrContains(type, "*")) {
    d->type = syscalls ? TGD_ARG_STR_USER : TGD_ARG_STR_KERNEL;
    out->render = ArgRender::kString;
    return absl::OkStatus();
  }
  if (absl::StrContains(type, "char[")) {
    d->type = TGD_ARG_INLINE_STR;
    out->render = ArgRender::kString;
    return absl::OkStatus();
  }
  if (f.size == 1 || f.size == 2 || f.size == 4 || f.size == 8) {
    d->type = TGD_ARG_INT;
    d->size = f.size;
    d->is_signed = f.is_signed;
    // The C type decides the rendering (syscall args are 8-byte slots).
    absl::string_view t = type;
    absl::ConsumePrefix(&t, "const ");
    if (t == "int" || t == "pid_t" || t == "short" || t == "s32" || t == "s16" || t == "s8") {
      d->is_signed = 1;
      d->size = std::min<uint32_t>(f.size, 4) == 4 ? 4 : f.size;
      out->render = ArgRender::kInt;
    } else if (t == "unsigned int" || t == "u32" || t == "u16" || t == "u8" || t == "uid_t" || t == "gid_t" ||
               t == "umode_t" || t == "unsigned short" || t == "unsigned char") {
      d->is_signed = 0;
      d->size = f.size >= 4 ? 4 : f.size;
      out->render = ArgRender::kUint;
    } else if (f.is_signed) {
      out->render = f.size == 8 ? ArgRender::kLong : ArgRender::kInt;
    } else {
      out->render = f.size == 8 ? ArgRender::kSize : ArgRender::kUint;
    }
    return absl::OkStatus();
  }
  return Unimplemented(path, absl::StrCat("tracepoint field type \"", f.type, "\" (size ", f.size, ")"));
}

}  // namespace
namespace compile_internal {

absl::Status CompileArgs(const policy::Hook& hook, const TracepointFormatReader& formats, CompiledHook* out) {
  if (hook.args.size() > TGD_MAX_ARGS) {
    return Invalid(absl::StrCat(hook.path, ".args"),
                   absl::StrCat(hook.args.size(), " arguments; at most ", TGD_MAX_ARGS, " are supported"));
  }
  std::optional<TracepointFormat> format;
  if (hook.kind == policy::HookKind::kTracepoint && !hook.args.empty()) {
    TGD_ASSIGN_OR_RETURN(format, formats(hook.subsystem, hook.event));
  }
  for (size_t i = 0; i < hook.args.size(); ++i) {
    const policy::ArgSpec& a = hook.args[i];
    const std::string path = a.path.empty() ? absl::StrCat(hook.path, ".args[", i, "]") : a.path;
    tgd_arg_desc& d = out->cfg.args[i];
    CompiledArg ca;
    ca.label = a.label;
    d.spec_index = a.index;
    const bool object = IsObjectArgType(a.type);  // kernel objects and buffers: arg_types.cc
    if (a.size_arg_index != 0 && !object) return Unimplemented(path + ".sizeArgIndex", "sizeArgIndex");
    if (a.return_copy && !object) return Unimplemented(path + ".returnCopy", "returnCopy");

    if (a.index < 0) return Invalid(path + ".index", "must not be negative");
    std::optional<IntType> it = ExplicitIntType(a.type);
    if (hook.kind == policy::HookKind::kTracepoint) {
      if (static_cast<size_t>(a.index) >= format->fields.size()) {
        return Invalid(path + ".index",
                       absl::StrCat(a.index, " is out of range: ", hook.subsystem, "/", hook.event, " has ",
                                    format->fields.size(), " fields (common fields included)"));
      }
      const TracepointField& f = format->fields[a.index];
      d.src = TGD_SRC_TP_FIELD;
      d.offset = f.offset;
      if (object) {
        TGD_RETURN_IF_ERROR(CompileObjectArg(hook, a, path, &f, &*format, &d, &ca));
      } else if (a.type == "auto") {
        TGD_RETURN_IF_ERROR(AutoTracepointArg(f, hook.subsystem == "syscalls", &d, &ca, path + ".type"));
      } else if (it) {
        if (f.size != 1 && f.size != 2 && f.size != 4 && f.size != 8) {
          return Invalid(path + ".type", absl::StrCat("field ", f.name, " is not an integer"));
        }
        d.type = TGD_ARG_INT;
        d.size = std::min<uint32_t>(it->size, f.size);
        d.is_signed = it->is_signed;
        ca.render = it->render;
      } else if (IsStringType(a.type) && !a.resolve.empty()) {
        d.type = TGD_ARG_STR_KERNEL;  // a string member behind the field's pointer
        ca.render = ArgRender::kString;
      } else if (IsStringType(a.type)) {
        TGD_RETURN_IF_ERROR(AutoTracepointArg(f, hook.subsystem == "syscalls", &d, &ca, path + ".type"));
        if (ca.render != ArgRender::kString) {
          return Invalid(path + ".type", absl::StrCat("field ", f.name, " (", f.type, ") is not a string"));
        }
      } else {
        return Unimplemented(path + ".type", absl::StrCat("argument type \"", a.type, "\" on tracepoints"));
      }
    } else {
      // Raw tracepoints, kprobes, uprobes: the index-th raw argument / register.
      const bool usdt = hook.kind == policy::HookKind::kUsdt;
      if (a.index >= (hook.kind == policy::HookKind::kRawTracepoint || usdt ? 12 : 5)) {
        return Invalid(path + ".index", absl::StrCat(a.index, " is out of range"));
      }
      d.index = a.index;
      const bool uprobe = hook.kind == policy::HookKind::kUprobe || usdt;
      if (usdt) {
        // The loader sets where each probe site has it (SetUsdtArgs).
        d.src = TGD_SRC_USDT;
      } else if (hook.kind == policy::HookKind::kRawTracepoint) {
        d.src = TGD_SRC_RAW_ARG;
      } else if (hook.kind == policy::HookKind::kLsm) {
        d.src = TGD_SRC_BTF_ARG;
      } else {
        d.src = hook.syscall && !uprobe ? TGD_SRC_REG + 1 : TGD_SRC_REG;
      }
      if (usdt && object) {
        return Unimplemented(path + ".type", absl::StrCat("argument type \"", a.type, "\" on usdts"));
      }
      if (a.type == "auto" && hook.kind == policy::HookKind::kRawTracepoint) {
        it = IntType{8, false, ArgRender::kSize};
      }
      if (object) {
        TGD_RETURN_IF_ERROR(CompileObjectArg(hook, a, path, nullptr, nullptr, &d, &ca));
      } else if (it) {
        d.type = TGD_ARG_INT;
        d.size = it->size;
        d.is_signed = it->is_signed;
        ca.render = it->render;
      } else if (a.type == "string") {
        d.type = hook.syscall || uprobe ? TGD_ARG_STR_USER : TGD_ARG_STR_KERNEL;
        ca.render = ArgRender::kString;
      } else {
        return Unimplemented(path + ".type",
                             absl::StrCat("argument type \"", a.type, "\" on ", policy::HookKindName(hook.kind)));
      }
    }
    if (!a.resolve.empty()) {  // arg_resolve.cc
      const TracepointField* field =
          hook.kind == policy::HookKind::kTracepoint ? &format->fields[a.index] : nullptr;
      TGD_ASSIGN_OR_RETURN(ResolvedPath r, ResolveArgPath(hook, a, path, field));
      TGD_RETURN_IF_ERROR(ApplyResolvedPath(r, a, path, &d));
      out->cfg.res[i] = r.res;
    }
    // maxData: char_buf and iov_iter (Tetragon ignores it on other types and on returnCopy).
    if (a.max_data && !a.return_copy && (d.type == TGD_ARG_USER_BUF || d.type == TGD_ARG_KERNEL_BUF || d.type == TGD_ARG_IOV_ITER)) {
      out->cfg.max_data_mask |= 1u << i;
    }
    out->args.push_back(std::move(ca));
  }
  out->cfg.n_args = hook.args.size();
  return absl::OkStatus();
}

}  // namespace compile_internal
namespace {

}  // namespace
namespace compile_internal {

absl::Status CompileSelector(const policy::Hook& hook, const policy::Selector& s, int sel_idx,
                             const HostNamespaceReader& host_ns, CompiledHook* out) {
  tgd_selector& sel = out->cfg.sel[sel_idx];
  auto unsupported = [&](bool present, absl::string_view field) -> absl::Status {
    if (present) return Unimplemented(absl::StrCat(s.path, ".", field), field);
    return absl::OkStatus();
  };
  TGD_RETURN_IF_ERROR(RefuseNewerSelectorFields(s));

  // matchBinaries: one per selector, as Tetragon (its CRD's MaxItems=1;
  // its loader refuses a second)
  if (s.match_binaries.size() > 1) {
    return Invalid(s.match_binaries[1].path, "only one matchBinaries per selector (as Tetragon)");
  }
  for (const policy::MatchBinaries& b : s.match_binaries) {
    uint8_t op = OpCode(b.op);
    if (!IsStringOp(op)) return Invalid(b.path + ".operator", absl::StrCat("unknown operator \"", b.op, "\""));
    if (b.follow_children && !b.values.empty()) {  // the loader gives it its bit (tgd_follow_bits)
      if (op != TGD_OP_EQ && op != TGD_OP_NEQ) {
        return Unimplemented(b.path + ".followChildren", absl::StrCat("followChildren with operator ", b.op,
                                                                      " (as Tetragon: In and NotIn only)"));
      }
      out->follow_children.push_back({sel_idx, b.values});
      out->track_flags |= TGD_TRACK_FOLLOW_CHILDREN;
    }
    sel.bin_op = op;
    sel.flags |= TGD_SEL_BINARIES;
    uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_BIN, 0);
    for (size_t i = 0; i < b.values.size(); ++i) {
      TGD_RETURN_IF_ERROR(AddStringValue(out, op, tag, b.values[i], absl::StrCat(b.path, ".values[", i, "]")));
    }
  }
  // matchParentBinaries: the binary the process ran before its exec (its
  // parent's), tracked while a policy uses it.
  if (s.match_parent_binaries.size() > 1) {
    return Invalid(s.match_parent_binaries[1].path, "only one matchParentBinaries per selector (as Tetragon)");
  }
  for (const policy::MatchBinaries& b : s.match_parent_binaries) {
    if (b.follow_children) return Unimplemented(b.path + ".followChildren", "followChildren in matchParentBinaries");
    if (b.values.empty()) continue;  // Tetragon ignores an entry without values
    uint8_t op = OpCode(b.op);
    if (!IsStringOp(op)) return Invalid(b.path + ".operator", absl::StrCat("unknown operator \"", b.op, "\""));
    sel.pbin_op = op;
    sel.flags |= TGD_SEL_LINEAGE;
    out->track_flags |= TGD_TRACK_PARENT_BIN;
    uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_PBIN, 0);
    for (size_t i = 0; i < b.values.size(); ++i) {
      TGD_RETURN_IF_ERROR(AddStringValue(out, op, tag, b.values[i], absl::StrCat(b.path, ".values[", i, "]")));
    }
  }
  // matchPIDs: several are ANDed, as one equivalent set (pid_sets.h)
  if (!s.match_pids.empty()) {
    TGD_ASSIGN_OR_RETURN(PidSet pids, CombinePidSelectors(s.match_pids));
    sel.pid_op = pids.in ? TGD_OP_EQ : TGD_OP_NEQ;
    sel.flags |= TGD_SEL_PIDS | (pids.is_namespace_pid ? TGD_SEL_PIDS_NS : 0) | (pids.follow_forks ? TGD_SEL_PIDS_FOLLOW | TGD_SEL_LINEAGE : 0);
    for (uint32_t v : pids.values) out->ints.push_back({0, TGD_TAG(0, sel_idx, TGD_TAG_PID, 0), v});
  }
  // matchNamespaces
  if (s.match_namespaces.size() > TGD_MAX_NS_CLAUSES) {
    return Unimplemented(s.match_namespaces[TGD_MAX_NS_CLAUSES].path,
                         absl::StrCat("more than ", TGD_MAX_NS_CLAUSES, " matchNamespaces per selector"));
  }
  for (size_t i = 0; i < s.match_namespaces.size(); ++i) {
    const policy::MatchNamespaces& n = s.match_namespaces[i];
    std::optional<uint8_t> ns = NamespaceIndex(n.ns);
    if (!ns) return Invalid(n.path + ".namespace", absl::StrCat("unknown namespace \"", n.ns, "\""));
    uint8_t op = OpCode(n.op);
    if (op != TGD_OP_EQ && op != TGD_OP_NEQ) {
      return Invalid(n.path + ".operator", absl::StrCat("operator \"", n.op, "\" is not In or NotIn"));
    }
    sel.ns[i] = {op, *ns, {0, 0}};
    uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_NS, i);
    for (size_t j = 0; j < n.values.size(); ++j) {
      const std::string& v = n.values[j];
      uint64_t inum = 0;
      if (v == "host_ns") {
        absl::StatusOr<uint64_t> host = host_ns(NsProcName(*ns));
        if (!host.ok()) {
          return absl::Status(host.status().code(), absl::StrCat(n.path, ".values[", j, "]: cannot resolve host_ns: ",
                                                                 host.status().message()));
        }
        inum = *host;
      } else if (!ParseInteger(v, false, &inum) || inum > 0xffffffffULL) {
        return Invalid(absl::StrCat(n.path, ".values[", j, "]"),
                       absl::StrCat("\"", v, "\" is not a namespace inode number or host_ns"));
      }
      out->ints.push_back({0, tag, inum});
    }
  }
  sel.n_ns = s.match_namespaces.size();
  // matchCapabilities (several ANDed), matchCapabilityChanges, matchNamespaceChanges (change_selectors.h)
  std::vector<std::pair<int, uint64_t>> host_user_ns;
  TGD_RETURN_IF_ERROR(CompileCapabilitySelectors(s, host_ns, &sel, &host_user_ns));
  for (const auto& [clause, inum] : host_user_ns) out->ints.push_back({0, TGD_TAG(0, sel_idx, TGD_TAG_NS, clause), inum});
  if (sel.cc_op || sel.nc_op) {
    sel.flags |= TGD_SEL_LINEAGE | TGD_SEL_CHANGES;
    out->track_flags |= TGD_TRACK_EXEC_CREDS;
  }
  // matchArgs
  // matchData: the same clauses, on the data values (after the args)
  const size_t n_match = s.match_args.size() + s.match_data.size();
  for (size_t i = 0; i < n_match; ++i) {
    const bool data = i >= s.match_args.size();
    const policy::MatchArg& m = data ? s.match_data[i - s.match_args.size()] : s.match_args[i];
    if (m.op == "CapabilitiesGained") {  // its arguments are `args`, not `index` (arg_types.cc)
      TGD_RETURN_IF_ERROR(CompileCapabilitiesGained(m, sel_idx, out));
      continue;
    }
    if (!m.args.empty()) return Unimplemented(m.path + ".args", "matchArgs.args");
    int pos = data ? DataPosition(hook, m.index) : policy::MatchArgPosition(hook, m.index);
    if (pos < 0) {
      return Invalid(m.path + ".index", absl::StrCat("argument index ", m.index, " is not declared in ", hook.path,
                                                     ".args"));
    }
    if (std::optional<absl::Status> s = CompileObjectMatch(m, pos, sel_idx, out)) {  // arg_types.cc
      TGD_RETURN_IF_ERROR(*s);
      continue;
    }
    uint8_t op = IsInMapOperator(m) ? (m.op == "InMap" ? TGD_OP_EQ : TGD_OP_NEQ) : OpCode(m.op);
    if (op == TGD_OP_NONE) return Unimplemented(m.path + ".operator", absl::StrCat("operator \"", m.op, "\""));
    bool is_string = out->args[pos].render == ArgRender::kString;
    if (is_string) {
      if (!IsStringOp(op)) {
        return Invalid(m.path + ".operator",
                       absl::StrCat("operator \"", m.op, "\" does not apply to the string argument ", m.index));
      }
      if (sel.n_str >= TGD_MAX_STR_CLAUSES) {
        return Unimplemented(m.path, absl::StrCat("more than ", TGD_MAX_STR_CLAUSES, " string matchArgs per selector"));
      }
      int idx = sel.n_str++;
      sel.strs[idx] = {op, static_cast<uint8_t>(pos), TGD_FIELD_VALUE, 0};
      uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_STR, idx);
      for (size_t j = 0; j < m.values.size(); ++j) {
        TGD_RETURN_IF_ERROR(AddStringValue(out, op, tag, m.values[j], absl::StrCat(m.path, ".values[", j, "]")));
      }
      continue;
    }
    if (op != TGD_OP_EQ && op != TGD_OP_NEQ && op != TGD_OP_GT && op != TGD_OP_LT && op != TGD_OP_MASK) {
      return Invalid(m.path + ".operator",
                     absl::StrCat("operator \"", m.op, "\" does not apply to the integer argument ", m.index));
    }
    if (sel.n_int >= TGD_MAX_INT_CLAUSES) {
      return Unimplemented(m.path, absl::StrCat("more than ", TGD_MAX_INT_CLAUSES, " integer matchArgs per selector"));
    }
    int idx = sel.n_int++;
    tgd_int_clause& c = sel.ints[idx];
    c.op = op;
    c.arg = pos;
    bool is_signed = out->cfg.args[pos].is_signed;
    if ((op == TGD_OP_GT || op == TGD_OP_LT) && m.values.size() != 1) {
      return Invalid(m.path + ".values", absl::StrCat("operator ", m.op, " takes exactly one value"));
    }
    uint32_t tag = TGD_TAG(0, sel_idx, TGD_TAG_INT, idx);
    if (IsInMapOperator(m)) {  // Equal/NotEqual over a value set of any size
      TGD_ASSIGN_OR_RETURN(std::vector<uint64_t> values, InMapValues(m, is_signed));
      for (uint64_t v : values) out->ints.push_back({0, tag, v});
      continue;
    }
    for (size_t j = 0; j < m.values.size(); ++j) {
      uint64_t v;
      if (!ParseInteger(m.values[j], is_signed, &v)) {
        return Invalid(absl::StrCat(m.path, ".values[", j, "]"),
                       absl::StrCat("\"", m.values[j], "\" is not a", is_signed ? " signed" : "n unsigned",
                                    " integer"));
      }
      if (op == TGD_OP_EQ || op == TGD_OP_NEQ) {
        out->ints.push_back({0, tag, v});
      } else if (op == TGD_OP_MASK) {
        c.value |= v;
      } else {
        c.value = v;
      }
    }
  }
  return CompileActions(hook, s, sel_idx, out);  // compile_actions.cc
}

}  // namespace compile_internal
namespace {

// The path hashes of every matchBinaries In/NotIn value (its exact strings,
// tag kind TGD_TAG_BIN), once per distinct hash and selector: the datapath
// looks the binary's hash up first (a 16-byte key instead of the 248-byte
// string; dispatch_abi.h tgd_path_hash) and the string only on a hit.
void AddBinaryHashes(CompiledHook* out) {
  std::set<std::pair<uint32_t, uint32_t>> seen;  // (tag, hash)
  std::vector<tgd_int_key> hashes;
  for (const tgd_str_key& k : out->strs) {
    if (((k.tag >> 8) & 0xf) != TGD_TAG_BIN) continue;
    uint64_t words[TGD_STR_MAX / 8];
    memcpy(words, k.s, sizeof(words));
    uint32_t h = tgd_path_hash(words);
    uint32_t tag = TGD_TAG(0, (k.tag >> 12) & 0xf, TGD_TAG_BIN_HASH, 0);
    if (seen.insert({tag, h}).second) hashes.push_back({0, tag, h});
  }
  out->ints.insert(out->ints.end(), hashes.begin(), hashes.end());
}

}  // namespace

void CompiledHook::SetIdentity(uint32_t policy_id, uint16_t gen) {
  cfg.policy_id = policy_id;
  cfg.gen = gen;
  auto retag = [&](uint32_t tag) { return (tag & 0xffffu) | (static_cast<uint32_t>(gen) << 16); };
  for (auto& k : ints) k.policy_id = policy_id, k.tag = retag(k.tag);
  for (auto& k : strs) k.policy_id = policy_id, k.tag = retag(k.tag);
  for (auto& k : prefixes) k.policy_id = policy_id, k.tag = retag(k.tag);
  for (auto& k : postfixes) k.policy_id = policy_id, k.tag = retag(k.tag);
}

absl::StatusOr<uint64_t> ReadHostNamespace(const std::string& name) {
  struct stat st;
  std::string file = absl::StrCat("/proc/1/ns/", name);
  if (stat(file.c_str(), &st) != 0) return absl::FailedPreconditionError(absl::StrCat(file, " is not readable"));
  return static_cast<uint64_t>(st.st_ino);
}

std::vector<absl::Status> SpecRefusals(const policy::TracingPolicy& tp, const labels::Labels* node_labels) {
  std::vector<absl::Status> out;
  if (!tp.enforcers.empty()) {
    out.push_back(absl::UnimplementedError(
        "spec.enforcers: enforcers are not supported by tgdispatch yet (they deny a call through "
        "bpf_override_return on kprobes or fmod_ret programs, which no kernel tgdispatch is tested on can "
        "attach; Override on LSM hooks (spec.lsmhooks) loads)"));
  }
  if (absl::StatusOr<policy::SpecOptions> o = policy::ParseSpecOptions(tp); !o.ok()) out.push_back(o.status());
  if (tp.loader && (tp.pod_selector || tp.container_selector || tp.namespaced())) {
    out.push_back(Invalid("spec.loader", "the loader sensor does not implement policy filtering (as Tetragon)"));
  }
  AppendNewerSpecRefusals(tp, &out, node_labels);
  if (tp.hooks.empty() && !tp.loader) out.push_back(absl::InvalidArgumentError("spec: the policy has no hooks"));
  return out;
}

absl::Status CheckSpecLoadable(const policy::TracingPolicy& tp, const labels::Labels* node_labels) {
  std::vector<absl::Status> refusals = SpecRefusals(tp, node_labels);
  return refusals.empty() ? absl::OkStatus() : refusals[0];
}

absl::StatusOr<CompiledHook> CompileHook(const policy::Hook& hook, const TracepointFormatReader& formats,
                                         const HostNamespaceReader& host_ns) {
  CompiledHook out;
  TGD_RETURN_IF_ERROR(RefuseNewerHookFields(hook));
  switch (hook.kind) {
    case policy::HookKind::kTracepoint:
      out.kind = TGD_HOOK_TRACEPOINT;
      out.subsystem = hook.subsystem;
      out.event = hook.event;
      out.hook_key = absl::StrCat("tracepoint/", hook.subsystem, "/", hook.event);
      break;
    case policy::HookKind::kRawTracepoint:
      out.kind = TGD_HOOK_RAW_TP;
      out.subsystem = hook.subsystem;
      out.event = hook.event;
      out.hook_key = absl::StrCat("raw_tp/", hook.event);
      break;
    case policy::HookKind::kKprobe:
      out.kind = TGD_HOOK_KPROBE;
      out.call = hook.syscall ? SyscallSymbol(hook.call) : hook.call;
      out.hook_key = absl::StrCat("kprobe/", out.call);
      break;
    case policy::HookKind::kLsm:
      out.kind = TGD_HOOK_LSM;
      out.call = hook.call;
      out.hook_key = absl::StrCat("lsm/", hook.call);
      break;
    case policy::HookKind::kUprobe:
      // One symbol, offset or address each (policy::ExpandHookLists).
      if (hook.symbols.size() + hook.offsets.size() + hook.addrs.size() != 1 || hook.ref_ctr_offsets.size() > 1) {
        return Invalid(hook.path, "a uprobe needs exactly one of symbols, offsets or addrs");
      }
      out.kind = TGD_HOOK_UPROBE;
      out.binary_path = hook.binary_path;
      if (!hook.ref_ctr_offsets.empty()) out.ref_ctr_offset = hook.ref_ctr_offsets[0];
      if (!hook.symbols.empty()) {
        // "symbol+offset": an offset into the function (Tetragon's form).
        out.call = hook.symbols[0];
        if (size_t plus = out.call.find('+'); plus != std::string::npos) {
          if (!ParseInteger(out.call.substr(plus + 1), false, &out.offset)) {
            return Invalid(hook.path + ".symbols", absl::StrCat("\"", hook.symbols[0], "\": the offset after + is not a number"));
          }
          out.call.resize(plus);
        }
        out.hook_key = absl::StrCat("uprobe/", hook.binary_path, ":", hook.symbols[0]);
      } else if (!hook.offsets.empty()) {
        out.offset = hook.offsets[0];
        out.hook_key = absl::StrCat("uprobe/", hook.binary_path, ":+0x", absl::Hex(out.offset));
      } else {
        // A virtual address: the loader maps it to a file offset through the
        // ELF's program headers (elf_file.h) and sets the key.
        out.addr = hook.addrs[0];
        out.hook_key = absl::StrCat("uprobe/", hook.binary_path, ":@0x", absl::Hex(out.addr));
      }
      if (out.ref_ctr_offset != 0) absl::StrAppend(&out.hook_key, "(ref_ctr 0x", absl::Hex(out.ref_ctr_offset), ")");
      break;
    case policy::HookKind::kUsdt:
      // A uprobe at each probe site of the ELF's stapsdt notes; the loader
      // finds the sites and their argument specs (SetUsdtArgs).
      out.kind = TGD_HOOK_UPROBE;
      out.binary_path = hook.binary_path;
      out.call = hook.call;
      out.usdt_provider = hook.provider;
      out.hook_key = absl::StrCat("usdt/", hook.binary_path, ":", hook.provider, ":", hook.call);
      break;
    default:
      return Unimplemented(hook.path, absl::StrCat("the ", policy::HookKindName(hook.kind), " hook kind"));
  }
  out.message = hook.message;
  out.tags = hook.tags;
  out.spec_path = hook.path;
  TGD_RETURN_IF_ERROR(CompileArgs(hook, formats, &out));
  TGD_RETURN_IF_ERROR(compile_internal::CompileDataArgs(hook, &out));  // compile_data.cc
  if (hook.selectors.size() > TGD_MAX_SELECTORS) {
    return Invalid(hook.path + ".selectors",
                   absl::StrCat(hook.selectors.size(), " selectors; at most ", TGD_MAX_SELECTORS, " are allowed"));
  }
  for (size_t i = 0; i < hook.selectors.size(); ++i) {
    TGD_RETURN_IF_ERROR(CompileSelector(hook, hook.selectors[i], static_cast<int>(i), host_ns, &out));
  }
  out.cfg.n_selectors = hook.selectors.size();
  AddBinaryHashes(&out);
  if (HasReturnSide(hook)) {
    if (out.kind != TGD_HOOK_KPROBE && out.kind != TGD_HOOK_UPROBE) {
      return Unimplemented(hook.path + ".return", "return probes outside kprobes and uprobes");
    }
    out.ret_role = CompiledHook::kRetEntry;
    out.cfg.ret_flags = TGD_RETF_ENTRY;
    for (size_t i = 0; i < hook.args.size(); ++i) {
      if (hook.args[i].return_copy) {
        out.cfg.ret_copy = static_cast<uint8_t>(i + 1);
        break;
      }
    }
  }
  return out;
}

}  // namespace tgd
