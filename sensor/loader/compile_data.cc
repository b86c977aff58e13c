// The `data` entries of kprobes and uprobes (see compile_internal.h): as
// Tetragon, values read from the current task (source: current_task, from
// its task_struct) or from the probe's registers (source: pt_regs) through a
// resolve path, placed after the hook's args, filtered by matchData and
// rendered in the event's `data`.
#include <string>

#include "absl/strings/str_cat.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/arg_resolve.h"
#include "sensor/loader/arg_types.h"
#include "sensor/loader/compile_internal.h"

namespace tgd::compile_internal {

std::optional<IntType> ExplicitIntType(absl::string_view t) {
  if (t == "int" || t == "int32") return IntType{4, true, ArgRender::kInt};
  if (t == "int8") return IntType{1, true, ArgRender::kInt};
  if (t == "int16") return IntType{2, true, ArgRender::kInt};
  if (t == "uint8") return IntType{1, false, ArgRender::kUint};
  if (t == "uint16") return IntType{2, false, ArgRender::kUint};
  if (t == "uint32") return IntType{4, false, ArgRender::kUint};
  if (t == "sint8") return IntType{1, true, ArgRender::kInt};
  if (t == "sint16") return IntType{2, true, ArgRender::kInt};
  if (t == "sint32") return IntType{4, true, ArgRender::kInt};
  if (t == "int64" || t == "sint64" || t == "long") return IntType{8, true, ArgRender::kLong};
  if (t == "uint64" || t == "ulong" || t == "size_t") return IntType{8, false, ArgRender::kSize};
  return std::nullopt;
}

int DataPosition(const policy::Hook& hook, int index) {
  if (index < 0 || static_cast<size_t>(index) >= hook.data.size()) return -1;
  return static_cast<int>(hook.args.size()) + index;
}

absl::Status CompileDataArgs(const policy::Hook& hook, CompiledHook* out) {
  if (hook.data.empty()) return absl::OkStatus();
  if (hook.kind != policy::HookKind::kKprobe && hook.kind != policy::HookKind::kUprobe) {
    return Unimplemented(hook.path + ".data", absl::StrCat("data on ", policy::HookKindName(hook.kind)));
  }
  if (hook.args.size() + hook.data.size() > TGD_MAX_ARGS) {  // as Tetragon
    return Invalid(hook.path + ".data", absl::StrCat("too many values: at most ", TGD_MAX_ARGS, " args and data (",
                                                     hook.args.size(), " args, ", hook.data.size(), " data)"));
  }
  for (size_t j = 0; j < hook.data.size(); ++j) {
    const policy::ArgSpec& a = hook.data[j];
    const std::string path = a.path.empty() ? absl::StrCat(hook.path, ".data[", j, "]") : a.path;
    const size_t pos = hook.args.size() + j;
    tgd_arg_desc& d = out->cfg.args[pos];
    CompiledArg ca;
    ca.label = a.label;
    ca.data = true;
    d.spec_index = a.index;
    d.src = a.source == "pt_regs" ? TGD_SRC_PT_REGS : TGD_SRC_CURRENT_TASK;
    if (std::optional<IntType> it = ExplicitIntType(a.type)) {
      d.type = TGD_ARG_INT;
      d.size = it->size;
      d.is_signed = it->is_signed;
      ca.render = it->render;
    } else if (a.type == "string") {
      d.type = TGD_ARG_STR_KERNEL;  // the task and the registers are kernel memory
      ca.render = ArgRender::kString;
    } else {
      return Unimplemented(path + ".type", absl::StrCat("data of type \"", a.type, "\" (integers and string load)"));
    }
    TGD_ASSIGN_OR_RETURN(ResolvedPath r, ResolveArgPath(hook, a, path, nullptr));
    TGD_RETURN_IF_ERROR(ApplyResolvedPath(r, a, path, &d));
    if (d.src == TGD_SRC_PT_REGS) {
      // A register: read at its offset in pt_regs (the context is no value
      // a resolve path can start from).
      if (r.res.n != 1 || r.kind != ResolvedKind::kInteger) {
        return Invalid(path + ".resolve", "a pt_regs data entry names one register (e.g. \"ax\", \"si\")");
      }
      d.index = r.res.off[0];
    } else {
      out->cfg.res[pos] = r.res;
    }
    out->args.push_back(std::move(ca));
  }
  out->cfg.n_args = hook.args.size() + hook.data.size();
  return absl::OkStatus();
}

}  // namespace tgd::compile_internal
