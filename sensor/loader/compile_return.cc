// Return probes (return: true, returnCopy, returnArgAction): the return
// side of a kprobe or uprobe compiled as a hook of its own, paired with its entry hook.
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/compile.h"
#include "sensor/loader/compile_internal.h"

namespace tgd {

using compile_internal::CompileArgs;
using compile_internal::CompileSelector;
using compile_internal::Unimplemented;

bool HasReturnSide(const policy::Hook& hook) {
  if (hook.is_return) return true;
  for (const policy::ArgSpec& a : hook.args) {
    if (a.return_copy) return true;
  }
  return false;
}

absl::StatusOr<CompiledHook> CompileReturnHook(const policy::Hook& hook, const CompiledHook& entry,
                                               const TracepointFormatReader& formats,
                                               const HostNamespaceReader& host_ns) {
  // The return side as a hook of its own: its argument is returnArg (read
  // from the return value), its selectors are each selector's
  // matchReturnArgs and matchReturnActions (as Tetragon compiles them).
  policy::Hook r;
  r.kind = hook.kind;
  r.path = hook.path;
  r.syscall = false;  // the return value is a register, not a syscall argument
  if (hook.is_return && hook.return_arg) r.args.push_back(*hook.return_arg);
  for (const policy::Selector& s : hook.selectors) {
    policy::Selector rs;
    rs.path = s.path;
    rs.pos = s.pos;
    rs.match_args = s.match_return_args;
    rs.match_actions = s.match_return_actions;
    for (policy::MatchAction& a : rs.match_actions) {
      if (a.action == "Override") {
        return Unimplemented(a.path + ".action", "Override in matchReturnActions (a return probe cannot deny)");
      }
    }
    r.selectors.push_back(std::move(rs));
  }
  CompiledHook out;
  out.kind = entry.kind;
  out.retprobe = true;
  out.ret_role = CompiledHook::kRetReturn;
  out.subsystem = entry.subsystem;
  out.event = entry.event;
  out.call = entry.call;
  out.binary_path = entry.binary_path;
  // The same site as the entry's (symbol, offset or address, reference
  // counter), probed on return.
  out.offset = entry.offset;
  out.addr = entry.addr;
  out.ref_ctr_offset = entry.ref_ctr_offset;
  out.hook_key = entry.kind == TGD_HOOK_UPROBE && absl::StartsWith(entry.hook_key, "uprobe/")
                     ? absl::StrCat("uretprobe/", entry.hook_key.substr(strlen("uprobe/")))
                     : absl::StrCat("kretprobe/", entry.call);
  out.message = entry.message;
  out.tags = entry.tags;
  out.spec_path = entry.spec_path;
  TGD_RETURN_IF_ERROR(CompileArgs(r, formats, &out));
  if (!r.args.empty()) {
    out.cfg.args[0].src = TGD_SRC_RET;
    out.args[0].label.clear();  // Tetragon renders the return value without a label
    out.ret_arg_pos = 0;
  }
  for (size_t i = 0; i < r.selectors.size(); ++i) {
    TGD_RETURN_IF_ERROR(CompileSelector(r, r.selectors[i], static_cast<int>(i), host_ns, &out));
  }
  out.cfg.n_selectors = r.selectors.size();
  if (entry.cfg.ret_copy) {
    const int from = entry.cfg.ret_copy - 1;
    const int pos = out.cfg.n_args++;
    out.cfg.args[pos] = entry.cfg.args[from];
    out.cfg.res[pos] = tgd_resolve{};
    out.args.push_back(entry.args[from]);
    out.cfg.ret_copy = static_cast<uint8_t>(pos + 1);
    out.copy_pos = pos;
    out.copy_entry_pos = from;
  }
  out.cfg.ret_flags = TGD_RETF_RETURN;
  // returnArgAction: the returned sock is tracked (or untracked) at every
  // return whose entry was posted, before the return's selectors (as
  // Tetragon's return probe). The parser checked that returnArg is a sock.
  if (hook.is_return && hook.return_arg_action == "TrackSock") out.cfg.ret_flags |= TGD_RETF_TRACKSOCK;
  if (hook.is_return && hook.return_arg_action == "UntrackSock") out.cfg.ret_flags |= TGD_RETF_UNTRACKSOCK;
  return out;
}

}  // namespace tgd
