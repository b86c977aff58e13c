// spec.lists: list types and syscall values (see lists.h).
#include "compat/policy/lists.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tgd::policy {
namespace {

struct SyscallEntry {
  const char* name;
  uint32_t id;
};

// Generated from <asm/unistd_64.h> and <asm/unistd_32.h> (genrule syscall_tables).
#include "compat/policy/syscall_tables.inc"

const std::vector<SyscallEntry>& Table(absl::string_view abi) {
  // Without the sentinel.
  static const std::vector<SyscallEntry> x64(std::begin(kSyscallsX64), std::end(kSyscallsX64) - 1);
  static const std::vector<SyscallEntry> i386(std::begin(kSyscallsI386), std::end(kSyscallsI386) - 1);
  static const std::vector<SyscallEntry> none;
  if (abi == "x64") return x64;
  if (abi == "i386") return i386;
  return none;
}

// Symbol prefixes of the syscall wrappers per architecture (arch.CutSyscallPrefix).
constexpr std::pair<const char*, const char*> kArchPrefix[] = {
    {"amd64", "__x64_"}, {"i386", "__ia32_"}, {"arm64", "__arm64_"}};

// The architecture a symbol's prefix names ("" = none) and the rest.
std::pair<std::string, absl::string_view> CutPrefix(absl::string_view v) {
  for (const auto& [arch, prefix] : kArchPrefix) {
    if (absl::ConsumePrefix(&v, prefix)) return {arch, v};
  }
  return {"", v};
}

// The default ABI of this build's architecture.
constexpr const char* kDefaultAbi =
#if defined(__aarch64__)
    "arm64";
#else
    "x64";
#endif

// (abi, name) of a syscall list value, as parseSyscallValue.
absl::StatusOr<std::pair<std::string, std::string>> ParseValue(absl::string_view value) {
  std::vector<absl::string_view> parts = absl::StrSplit(value, '/');
  if (parts.size() == 1) {
    auto [arch, name] = CutPrefix(value);
    std::string abi = arch.empty() ? kDefaultAbi : arch == "amd64" ? "x64" : arch;
    return std::make_pair(abi, std::string(name));
  }
  if (parts.size() == 2) {
    std::string abi(parts[0]);
    auto [arch, name] = CutPrefix(parts[1]);
    bool ok = arch.empty() ? (abi == "x64" || abi == "i386" || abi == "arm64" || abi == "arm32")
              : arch == "amd64" ? (abi == "x64" || abi == "i386")
              : arch == "i386"  ? abi == "i386"
                                : (abi == "arm64" || abi == "arm32");
    if (!ok) {
      return absl::InvalidArgumentError(arch.empty() ? absl::StrCat("invalid ABI: ", abi)
                                                     : absl::StrCat("invalid ABI (", abi, ") for arch (", arch, ")"));
    }
    return std::make_pair(abi, std::string(name));
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid syscall value: '", value, "'"));
}

}  // namespace

bool IsSyscallListType(const std::string& type) {
  std::string t = absl::AsciiStrToLower(type);
  return t == "syscalls" || t == "generated_syscalls";
}

absl::StatusOr<uint32_t> SyscallId(absl::string_view value) {
  auto parsed = ParseValue(value);
  if (!parsed.ok()) return parsed.status();
  auto [abi, name] = *parsed;
  absl::string_view sc = name;
  absl::ConsumePrefix(&sc, "sys_");
  for (const SyscallEntry& e : Table(abi)) {
    if (sc == e.name) return e.id | (abi == "i386" || abi == "arm32" ? kIs32Bit : 0u);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot translate syscall '", sc, "' to an id (ABI ", abi,
                   Table(abi).empty() ? ", which this build has no syscall table for" : "", ")"));
}

absl::StatusOr<std::string> SyscallSymbol(absl::string_view value) {
  auto parsed = ParseValue(value);
  if (!parsed.ok()) return parsed.status();
  const auto& [abi, name] = *parsed;
  std::string prefix = abi == "x64" ? "__x64_" : abi == "i386" ? "__ia32_" : "__arm64_";
  if (absl::StartsWith(name, prefix)) return name;
  if (absl::StartsWith(name, "sys_")) return prefix + name;
  return absl::InvalidArgumentError(absl::StrCat("invalid syscall list element '", value, "'"));
}

absl::StatusOr<std::vector<std::string>> ListValues(const ListSpec& list) {
  std::string type = absl::AsciiStrToLower(list.type);
  if (type == "generated_syscalls") {
    std::vector<std::string> out;
    for (const SyscallEntry& e : Table(kDefaultAbi)) out.push_back(absl::StrCat("sys_", e.name));
    return out;
  }
  if (type == "generated_ftrace") {
    return absl::FailedPreconditionError(
        absl::StrCat(list.path, ": generated_ftrace lists are read from tracefs available_filter_functions"));
  }
  return list.values;
}

absl::StatusOr<std::vector<uint32_t>> SyscallListIds(const ListSpec& list) {
  if (!IsSyscallListType(list.type)) {
    return absl::InvalidArgumentError(absl::StrCat("list '", list.name, "' is not syscall type"));
  }
  auto values = ListValues(list);
  if (!values.ok()) return values.status();
  std::vector<uint32_t> out;
  for (const std::string& v : *values) {
    auto id = SyscallId(v);
    if (!id.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("list '", list.name, "': ", id.status().message()));
    }
    out.push_back(*id);
  }
  return out;
}

absl::StatusOr<std::vector<Hook>> ExpandHookLists(const TracingPolicy& policy, const FtraceListReader& ftrace) {
  std::vector<Hook> out;
  for (const Hook& hook : policy.hooks) {
    if (hook.kind == HookKind::kUprobe) {
      // One uprobe per symbol, offset or address (exactly one of the three
      // kinds, as Tetragon), each with its refCtrOffsets entry.
      const int kinds = !hook.symbols.empty() + !hook.offsets.empty() + !hook.addrs.empty();
      if (kinds != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(hook.path, ": a uprobe needs exactly one of symbols, offsets or addrs"));
      }
      const size_t n = hook.symbols.size() + hook.offsets.size() + hook.addrs.size();
      if (!hook.ref_ctr_offsets.empty() && (hook.ref_ctr_offsets.size() != n || !hook.addrs.empty())) {
        return absl::InvalidArgumentError(absl::StrCat(
            hook.path, ".refCtrOffsets: ",
            hook.addrs.empty() ? absl::StrCat(hook.ref_ctr_offsets.size(), " entries for ", n,
                                              hook.symbols.empty() ? " offsets" : " symbols")
                               : std::string("not supported with addrs (as Tetragon)")));
      }
      for (size_t i = 0; i < n; ++i) {
        Hook h = hook;
        if (!hook.symbols.empty()) h.symbols = {hook.symbols[i]}, h.call = hook.symbols[i];
        if (!hook.offsets.empty()) h.offsets = {hook.offsets[i]};
        if (!hook.addrs.empty()) h.addrs = {hook.addrs[i]};
        if (!hook.ref_ctr_offsets.empty()) h.ref_ctr_offsets = {hook.ref_ctr_offsets[i]};
        out.push_back(std::move(h));
      }
      continue;
    }
    if (!absl::StartsWith(hook.call, "list:") ||
        (hook.kind != HookKind::kKprobe && hook.kind != HookKind::kFentry)) {
      out.push_back(hook);
      continue;
    }
    const ListSpec* list = FindList(policy, hook.call);
    if (list == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(hook.path, ".call: error list '", hook.call, "' not found"));
    }
    std::string type = absl::AsciiStrToLower(list->type);
    std::vector<std::string> symbols;
    if (type == "generated_ftrace") {
      absl::StatusOr<std::vector<std::string>> funcs = ftrace(*list);
      if (!funcs.ok()) return funcs.status();
      symbols = *std::move(funcs);
    } else {
      absl::StatusOr<std::vector<std::string>> values = ListValues(*list);
      if (!values.ok()) return values.status();
      for (const std::string& v : *values) {
        if (!IsSyscallListType(type)) {
          symbols.push_back(v);
          continue;
        }
        absl::StatusOr<std::string> sym = SyscallSymbol(v);
        if (!sym.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(hook.path, ".call: failed to parse list element (", v,
                                                         ") of syscall list ", list->name, ": ",
                                                         sym.status().message()));
        }
        symbols.push_back(*std::move(sym));
      }
    }
    if (out.size() + symbols.size() > kMaxExpandedHooks) {
      return absl::ResourceExhaustedError(absl::StrCat(hook.path, ".call: list '", list->name, "' expands to ",
                                                       symbols.size(), " hooks; at most ", kMaxExpandedHooks,
                                                       " per policy"));
    }
    for (std::string& sym : symbols) {
      Hook h = hook;
      h.call = std::move(sym);
      if (IsSyscallListType(type)) h.syscall = true;
      out.push_back(std::move(h));
    }
  }
  return out;
}

const ListSpec* FindList(const TracingPolicy& policy, absl::string_view value) {
  if (!absl::ConsumePrefix(&value, "list:")) return nullptr;
  for (const ListSpec& l : policy.lists) {
    if (l.name == value) return &l;
  }
  return nullptr;
}

}  // namespace tgd::policy
