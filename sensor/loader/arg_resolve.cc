// args[].resolve against the kernel's BTF (see arg_resolve.h), through
// libbpf's BTF API.
#include "sensor/loader/arg_resolve.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "sensor/base/status_macros.h"

namespace tgd {
namespace {

// The running kernel's BTF, loaded once (nullptr when the kernel has none).
const btf* VmlinuxBtf() {
  static absl::Mutex mu;
  static const btf* loaded = nullptr;
  static bool tried = false;
  absl::MutexLock l(&mu);
  if (!tried) {
    tried = true;
    btf* b = btf__load_vmlinux_btf();
    if (libbpf_get_error(b) == 0) loaded = b;
  }
  return loaded;
}

int SkipMods(const btf* b, int id) {
  for (int i = 0; i < 32 && id > 0; ++i) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!t) return -1;
    switch (btf_kind(t)) {
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        id = t->type;
        break;
      default:
        return id;
    }
  }
  return id;
}

// Member `name` of struct/union `id`, searching anonymous members too.
bool FindMember(const btf* b, int id, const std::string& name, uint32_t* bit_off, int* type) {
  const btf_type* t = btf__type_by_id(b, id);
  if (!t || (btf_kind(t) != BTF_KIND_STRUCT && btf_kind(t) != BTF_KIND_UNION)) return false;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i, ++m) {
    const char* mname = btf__name_by_offset(b, m->name_off);
    uint32_t off = btf_member_bit_offset(t, i);
    if (mname && name == mname) {
      *bit_off = off;
      *type = m->type;
      return true;
    }
    if (!mname || !*mname) {  // anonymous struct or union: look inside
      uint32_t inner = 0;
      if (FindMember(b, SkipMods(b, m->type), name, &inner, type)) {
        *bit_off = off + inner;
        return true;
      }
    }
  }
  return false;
}

// The type id of parameter `index` of function prototype `proto`, or -1.
int ParamType(const btf* b, int proto, int index) {
  const btf_type* t = btf__type_by_id(b, proto);
  if (!t || btf_kind(t) != BTF_KIND_FUNC_PROTO || index < 0 || index >= btf_vlen(t)) return -1;
  return btf_params(t)[index].type;
}

int FuncProto(const btf* b, const std::string& fn) {
  int id = btf__find_by_name_kind(b, fn.c_str(), BTF_KIND_FUNC);
  if (id < 0) return -1;
  return btf__type_by_id(b, id)->type;
}

bool IsChar(const btf* b, int id) {
  const btf_type* t = btf__type_by_id(b, SkipMods(b, id));
  return t && btf_kind(t) == BTF_KIND_INT && t->size == 1;
}

using BtfPtr = std::unique_ptr<btf, decltype(&btf__free)>;

// A struct (or union) named `name` in b, or -1.
int FindStruct(const btf* b, const std::string& name) {
  int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_STRUCT);
  return id > 0 ? id : btf__find_by_name_kind(b, name.c_str(), BTF_KIND_UNION);
}

// Follows a.resolve from struct `cur` of b (see ResolveArgPath).
// The components of a resolve path: members, and array indexes as their own
// components, as Tetragon splits them ("a.b[2][1].c" -> a, b, [2], [1], c).
// Empty when the path is malformed.
std::vector<std::string> PathComponents(const std::string& path) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    size_t open = part.find('[');
    std::string name(part.substr(0, open));
    if (name.empty()) return {};
    out.push_back(name);
    while (open != absl::string_view::npos) {
      size_t close = part.find(']', open);
      if (close == absl::string_view::npos || close == open + 1) return {};
      out.emplace_back(part.substr(open, close - open + 1));
      open = close + 1 == part.size() ? absl::string_view::npos : close + 1;
      if (open != absl::string_view::npos && part[open] != '[') return {};
    }
  }
  return out;
}

absl::StatusOr<ResolvedPath> WalkPath(const btf* b, int cur, const policy::ArgSpec& a, const std::string& where) {
  auto invalid = [&](absl::string_view why) { return absl::InvalidArgumentError(absl::StrCat(where, ": ", why)); };
  std::vector<std::string> comps = PathComponents(a.resolve);
  if (comps.empty()) return invalid(absl::StrCat("\"", a.resolve, "\" is not a field path (e.g. a.b[2].c)"));
  if (comps.size() > TGD_RESOLVE_MAX) {
    return invalid(absl::StrCat(comps.size(), " components (array indexes count as one); at most ", TGD_RESOLVE_MAX,
                                " are supported"));
  }
  ResolvedPath out;
  // `cur`: the type the address being built points at.
  for (size_t i = 0; i < comps.size(); ++i) {
    const std::string& c = comps[i];
    int mtype = 0;
    if (c[0] == '[') {
      // An index: into an array, or past a pointer to elements of `cur`.
      uint32_t idx = 0;
      if (!absl::SimpleAtoi(absl::string_view(c).substr(1, c.size() - 2), &idx)) {
        return invalid(absl::StrCat("\"", c, "\" is not an array index"));
      }
      const btf_type* at = btf__type_by_id(b, cur);
      if (at && btf_kind(at) == BTF_KIND_ARRAY) {
        const struct btf_array* arr = btf_array(at);
        if (arr->nelems != 0 && idx >= arr->nelems) {
          return invalid(absl::StrCat("index ", idx, " is out of bounds (", arr->nelems, " elements)"));
        }
        mtype = arr->type;
      } else if (i > 0 && (out.res.load_mask & (1u << (i - 1)))) {
        mtype = cur;  // the previous component was a pointer: its elements are of type cur
      } else {
        return invalid(absl::StrCat("\"", c, "\" indexes a component that is neither an array nor a pointer"));
      }
      long size = btf__resolve_size(b, mtype);
      if (size <= 0 || static_cast<uint64_t>(size) * idx > 0xffff) {
        return invalid(absl::StrCat("index ", idx, " is too far (offsets up to 64 KiB)"));
      }
      out.res.off[i] = static_cast<uint16_t>(size * idx);
    } else {
      const btf_type* st = btf__type_by_id(b, cur);
      if (!st || (btf_kind(st) != BTF_KIND_STRUCT && btf_kind(st) != BTF_KIND_UNION)) {
        return invalid(absl::StrCat("\"", c, "\" follows a component that is not a struct or union"));
      }
      uint32_t bit_off = 0;
      if (!FindMember(b, cur, c, &bit_off, &mtype)) {
        const char* sname = btf__name_by_offset(b, st->name_off);
        return absl::NotFoundError(
            absl::StrCat(where, ": ", sname && *sname ? sname : "the struct", " has no member \"", c, "\""));
      }
      if (bit_off % 8 != 0 || bit_off / 8 > 0xffff) return invalid(absl::StrCat("member \"", c, "\" is a bit field or too far"));
      out.res.off[i] = bit_off / 8;
    }
    int mt = SkipMods(b, mtype);
    const btf_type* m = btf__type_by_id(b, mt);
    const bool last = i + 1 == comps.size();
    if (!last) {
      if (btf_kind(m) == BTF_KIND_PTR) {
        out.res.load_mask |= 1u << i;
        cur = SkipMods(b, m->type);
      } else {
        cur = mt;
      }
      continue;
    }
    if (btf_kind(m) == BTF_KIND_ARRAY && IsChar(b, btf_array(m)->type)) {
      out.kind = ResolvedKind::kCharArray;
    } else if (btf_kind(m) == BTF_KIND_PTR) {
      out.res.load_mask |= 1u << i;
      out.kind = IsChar(b, m->type) ? ResolvedKind::kCharPointer : ResolvedKind::kPointer;
    } else if (btf_kind(m) == BTF_KIND_INT || btf_kind(m) == BTF_KIND_ENUM || btf_kind(m) == BTF_KIND_ENUM64) {
      out.kind = ResolvedKind::kInteger;
      out.int_size = m->size;
      out.res.int_at = 1;
    } else {
      return invalid(absl::StrCat("\"", c, "\" is a struct, union or array: name one of its members or elements"));
    }
  }
  out.res.n = comps.size();
  return out;
}

// uprobes and usdts: a.btfType in the hook's btfPath file; the argument
// points to it in the probed process's memory.
absl::StatusOr<ResolvedPath> ResolveUserPath(const policy::Hook& hook, const policy::ArgSpec& a,
                                             const std::string& path, const std::string& where) {
  if (hook.btf_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": resolve on ", policy::HookKindName(hook.kind),
        " needs the hook's btfPath (a BTF file describing the binary's types) and the arg's btfType"));
  }
  if (a.btf_type.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".btfType: resolve on ", policy::HookKindName(hook.kind),
                     " needs btfType: the struct (in btfPath) the argument points to"));
  }
  BtfPtr b(btf__parse(hook.btf_path.c_str(), nullptr), &btf__free);
  if (libbpf_get_error(b.get()) != 0) {
    b.release();
    return absl::InvalidArgumentError(absl::StrCat(hook.path, ".btfPath: cannot read BTF from \"", hook.btf_path,
                                                   "\": ", strerror(errno)));
  }
  int root = FindStruct(b.get(), a.btf_type);
  if (root < 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ".btfType: no struct or union \"", a.btf_type, "\" in ", hook.btf_path));
  }
  TGD_ASSIGN_OR_RETURN(ResolvedPath out, WalkPath(b.get(), root, a, where));
  out.res.user = 1;
  return out;
}

// Kernel hooks' btfType: the struct in the kernel's BTF, or in module
// btfTypeModule's (/sys/kernel/btf/<module>, split over vmlinux).
absl::StatusOr<ResolvedPath> ResolveKernelCast(const btf* vmlinux, const policy::ArgSpec& a, const std::string& path,
                                               const std::string& where) {
  if (a.btf_type_module.empty()) {
    int root = FindStruct(vmlinux, a.btf_type);
    if (root < 0) {
      return absl::NotFoundError(absl::StrCat(path, ".btfType: no struct or union \"", a.btf_type,
                                              "\" in the kernel's BTF"));
    }
    return WalkPath(vmlinux, root, a, where);
  }
  BtfPtr b(btf__load_module_btf(a.btf_type_module.c_str(), const_cast<btf*>(vmlinux)), &btf__free);
  if (libbpf_get_error(b.get()) != 0) {
    b.release();
    return absl::NotFoundError(absl::StrCat(path, ".btfTypeModule: no BTF for kernel module \"", a.btf_type_module,
                                            "\" (/sys/kernel/btf/", a.btf_type_module, ")"));
  }
  int root = FindStruct(b.get(), a.btf_type);
  if (root < 0) {
    return absl::NotFoundError(absl::StrCat(path, ".btfType: no struct or union \"", a.btf_type,
                                            "\" in the BTF of module ", a.btf_type_module));
  }
  return WalkPath(b.get(), root, a, where);
}

}  // namespace

absl::StatusOr<ResolvedPath> ResolveArgPath(const policy::Hook& hook, const policy::ArgSpec& a,
                                            const std::string& path, const TracepointField* field) {
  const std::string where = path + ".resolve";
  // A data entry's source (the task, the registers) is a kernel struct on
  // every hook kind; an uprobe's or usdt's argument is user memory.
  if ((hook.kind == policy::HookKind::kUprobe || hook.kind == policy::HookKind::kUsdt) && a.source.empty()) {
    return ResolveUserPath(hook, a, path, where);
  }
  if (!a.btf_type_module.empty() && a.btf_type.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ".btfTypeModule: needs btfType"));
  }
  auto invalid = [&](absl::string_view why) { return absl::InvalidArgumentError(absl::StrCat(where, ": ", why)); };
  const btf* b = VmlinuxBtf();
  if (!b) return absl::NotFoundError(absl::StrCat(where, ": the kernel's BTF (/sys/kernel/btf/vmlinux) is not readable"));
  if (hook.kind == policy::HookKind::kKprobe && hook.syscall && a.source.empty()) {
    return absl::UnimplementedError(absl::StrCat(where, ": resolve on syscall kprobes is not supported by tgdispatch yet"));
  }
  if (!a.btf_type.empty()) {
    switch (hook.kind) {
      case policy::HookKind::kRawTracepoint:
      case policy::HookKind::kLsm:
      case policy::HookKind::kKprobe:
      case policy::HookKind::kTracepoint:
        return ResolveKernelCast(b, a, path, where);  // the argument read as a pointer to btfType
      default:
        return absl::UnimplementedError(absl::StrCat(
            path, ".btfType: btfType on ", policy::HookKindName(hook.kind), " is not supported by tgdispatch yet"));
    }
  }
  int root = -1;
  int struct_root = 0;  // tracepoints: the struct the field points to; data: its source's
  if (!a.source.empty()) {
    const std::string type = a.source == "pt_regs" ? "pt_regs" : "task_struct";
    struct_root = btf__find_by_name_kind(b, type.c_str(), BTF_KIND_STRUCT);
    if (struct_root <= 0) return absl::NotFoundError(absl::StrCat(where, ": struct ", type, " is not in the kernel's BTF"));
  }
  if (struct_root == 0) switch (hook.kind) {
    case policy::HookKind::kRawTracepoint: {
      int td = btf__find_by_name_kind(b, ("btf_trace_" + hook.event).c_str(), BTF_KIND_TYPEDEF);
      if (td < 0) return absl::NotFoundError(absl::StrCat(where, ": no BTF prototype for raw tracepoint ", hook.event));
      int ptr = SkipMods(b, td);
      const btf_type* pt = btf__type_by_id(b, ptr);
      if (!pt || btf_kind(pt) != BTF_KIND_PTR) return invalid("unexpected raw tracepoint prototype");
      root = ParamType(b, SkipMods(b, pt->type), a.index + 1);  // the first parameter is the context
      break;
    }
    case policy::HookKind::kLsm:
      root = ParamType(b, FuncProto(b, "bpf_lsm_" + hook.call), a.index);
      break;
    case policy::HookKind::kKprobe:
      root = ParamType(b, FuncProto(b, hook.call), a.index);
      break;
    case policy::HookKind::kTracepoint: {
      if (!field) return invalid("the tracepoint field is unknown");
      absl::string_view t = field->type;
      absl::ConsumePrefix(&t, "const ");
      if (!absl::ConsumePrefix(&t, "struct ") || !absl::ConsumeSuffix(&t, " *")) {
        return invalid(absl::StrCat("field ", field->name, " (", field->type, ") is not a struct pointer"));
      }
      int s = btf__find_by_name_kind(b, std::string(t).c_str(), BTF_KIND_STRUCT);
      if (s < 0) return absl::NotFoundError(absl::StrCat(where, ": struct ", t, " is not in the kernel's BTF"));
      struct_root = s;
      break;
    }
    default:
      return absl::UnimplementedError(
          absl::StrCat(where, ": resolve on ", policy::HookKindName(hook.kind), " is not supported by tgdispatch yet"));
  }
  int cur;
  if (struct_root > 0) {
    cur = struct_root;
  } else {
    if (root <= 0) return absl::NotFoundError(absl::StrCat(where, ": no BTF type for argument ", a.index));
    const btf_type* rt = btf__type_by_id(b, SkipMods(b, root));
    if (!rt || btf_kind(rt) != BTF_KIND_PTR) return invalid("the argument is not a pointer to a struct or union");
    cur = SkipMods(b, rt->type);
  }
  return WalkPath(b, cur, a, where);
}

}  // namespace tgd
