// The matchActions of a selector (see compile_internal.h): Post (rate
// limits, stack traces), NoPost, Sigkill, Signal, Override (LSM hooks),
// GetUrl, DnsLookup, TrackSock / UntrackSock, and the refusals of the others.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sensor/loader/compile_internal.h"

namespace tgd::compile_internal {

absl::Status CompileActions(const policy::Hook& hook, const policy::Selector& s, int sel_idx, CompiledHook* out) {
  tgd_selector& sel = out->cfg.sel[sel_idx];
  if (s.match_actions.size() > TGD_MAX_ACTIONS) {
    return Unimplemented(s.path + ".matchActions", absl::StrCat("more than ", TGD_MAX_ACTIONS, " actions"));
  }
  for (size_t i = 0; i < s.match_actions.size(); ++i) {
    const policy::MatchAction& a = s.match_actions[i];
    const std::string path = a.path.empty() ? absl::StrCat(s.path, ".matchActions[", i, "]") : a.path;
    if (a.ima_hash && hook.kind != policy::HookKind::kLsm) return Unimplemented(path + ".imaHash", "imaHash off LSM hooks");
    if (a.ima_hash) out->ima_hash_sels |= 1u << sel_idx;  // computed in user space (sensor/imahash)
    tgd_action& act = sel.actions[i];
    // Stack traces: Tetragon renders them only in process_kprobe
    // (kernel_stack_trace, user_stack_trace); its tracepoint, uprobe and LSM
    // events have no such fields (its LSM sensor refuses them).
    for (const auto& [on, field] : {std::pair{a.kernel_stack_trace, ".kernelStackTrace"},
                                    std::pair{a.user_stack_trace, ".userStackTrace"}}) {
      if (!on) continue;
      if (a.action != "Post") {
        return Invalid(path + field, absl::StrCat("only valid with the Post action, not ", a.action));
      }
      if (hook.kind != policy::HookKind::kKprobe) {
        return Unimplemented(path + field,
                             absl::StrCat("stack traces on ", policy::HookKindName(hook.kind),
                                          " hooks (Tetragon's event for them has no stack trace field; only "
                                          "kprobe events, process_kprobe, carry kernel_stack_trace and "
                                          "user_stack_trace)"));
      }
    }
    if (a.action == "Post") {
      act.kind = TGD_ACT_POST;
      act.flags = (a.kernel_stack_trace ? TGD_ACTF_KSTACK : 0) | (a.user_stack_trace ? TGD_ACTF_USTACK : 0);
      // The model accepts rateLimit and rateLimitScope only on Post.
      act.rate_limit_ms = a.rate_limit_ms;  // 0: no limit
      if (a.rate_limit_scope == "process") {
        act.rate_scope = TGD_RATE_PROCESS;
      } else if (a.rate_limit_scope == "global") {
        act.rate_scope = TGD_RATE_GLOBAL;
      } else {
        act.rate_scope = TGD_RATE_THREAD;  // Tetragon's default
      }
    } else if (a.action == "NoPost") {
      act.kind = TGD_ACT_NOPOST;
    } else if (a.action == "Sigkill") {
      act.kind = TGD_ACT_SIGKILL;
    } else if (a.action == "Override") {
      if (hook.kind != policy::HookKind::kLsm) {
        return Unimplemented(path + ".action",
                             "Override outside LSM hooks (bpf_override_return on kprobes; no kernel tgdispatch is "
                             "tested on can attach kprobes or fmod_ret programs, so it stays refused until one "
                             "can: use Override on an LSM hook (spec.lsmhooks), or Sigkill)");
      }
      if (a.arg_error >= 0 || a.arg_error < -4095) {
        return Invalid(path + ".argError", absl::StrCat(a.arg_error, " is not a negative errno (-1 to -4095)"));
      }
      act.kind = TGD_ACT_OVERRIDE;
      act.arg_error = a.arg_error;
    } else if (a.action == "GetUrl") {
      if (!absl::StartsWith(a.arg_url, "http://")) {
        return Unimplemented(path + ".argUrl",
                             absl::StrCat("GetUrl of \"", a.arg_url,
                                          "\" (only http:// URLs: tgdispatch has no TLS client for https)"));
      }
      act.kind = TGD_ACT_GETURL;
      out->user_actions.push_back({sel_idx, TGD_ACT_GETURL, a.arg_url});
    } else if (a.action == "DnsLookup") {
      act.kind = TGD_ACT_DNSLOOKUP;
      out->user_actions.push_back({sel_idx, TGD_ACT_DNSLOOKUP, a.arg_fqdn});
    } else if (a.action == "TrackSock" || a.action == "UntrackSock") {
      // argSock names a declared arg by its index (as the policy model
      // checks it); the datapath reads that arg's position.
      uint32_t pos = UINT32_MAX;
      for (size_t k = 0; k < hook.args.size(); ++k) {
        if (hook.args[k].index == static_cast<int64_t>(a.arg_sock)) {
          pos = static_cast<uint32_t>(k);
          break;
        }
      }
      if (pos >= out->args.size() ||
          (out->cfg.args[pos].type != TGD_ARG_SOCK && out->cfg.args[pos].type != TGD_ARG_SOCKET)) {
        return Invalid(path + ".argSock", absl::StrCat("argument index ", a.arg_sock,
                                                       " does not name a sock or socket argument"));
      }
      act.kind = a.action == "TrackSock" ? TGD_ACT_TRACKSOCK : TGD_ACT_UNTRACKSOCK;
      act.sig = static_cast<uint8_t>(pos);
    } else if (a.action == "Set") {
      // The policy model accepts Set only on usdts (as Tetragon): it writes
      // argValue into the USDT argument at position argIndex of args. The
      // loader checks the kernel first (usdt_set.h: this kernel refuses both
      // ways of writing); where a kernel allows one, it is still not built.
      if (a.arg_index >= hook.args.size()) {
        return Invalid(path + ".argIndex", absl::StrCat(a.arg_index, " is out of range: the usdt declares ",
                                                        hook.args.size(), " args"));
      }
      return Unimplemented(path + ".action",
                           "Set (writing a USDT argument into the probed process needs bpf_probe_write_user, or "
                           "pt_regs stores for an argument in a register, in uprobe programs; no kernel tgdispatch "
                           "is tested on allows either, so it is not built)");
    } else if (a.action == "Signal") {
      if (a.arg_sig == 0 || a.arg_sig > 64) {
        return Invalid(path + ".argSig", absl::StrCat("signal ", a.arg_sig, " is not between 1 and 64"));
      }
      act.kind = TGD_ACT_SIGNAL;
      act.sig = a.arg_sig;
    } else {
      return Unimplemented(path + ".action", absl::StrCat("action \"", a.action, "\""));
    }
  }
  sel.n_actions = s.match_actions.size();
  return absl::OkStatus();
}

}  // namespace tgd::compile_internal
