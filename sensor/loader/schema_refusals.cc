// Refusals of the TracingPolicy fields the loader has no datapath for yet
// (see schema_refusals.h).
#include "sensor/loader/schema_refusals.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "sensor/loader/workload_scope.h"

namespace tgd {
namespace {

absl::Status Unimplemented(const std::string& path, absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat(path, ": ", what, " is not supported by tgdispatch yet"));
}

absl::Status RefuseArg(const policy::ArgSpec& a) {
  if (!a.source.empty()) {  // as Tetragon: only `data` entries have a source
    return absl::InvalidArgumentError(absl::StrCat(a.path, ".source: an argument of args cannot have a source (\"",
                                                   a.source, "\"); sources are for data entries"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RefuseNewerHookFields(const policy::Hook& hook) {
  if (hook.kind == policy::HookKind::kFentry) {
    return Unimplemented(hook.path, "fentries (BPF trampoline programs)");
  }
  for (const policy::ArgSpec& a : hook.args) {
    if (absl::Status s = RefuseArg(a); !s.ok()) return s;
  }
  if (hook.return_arg) {
    if (absl::Status s = RefuseArg(*hook.return_arg); !s.ok()) return s;
  }
  // data: Tetragon's checks (a source of current_task or pt_regs and a
  // resolve path are required).
  for (const policy::ArgSpec& d : hook.data) {
    if (d.source != "current_task" && d.source != "pt_regs") {
      return absl::InvalidArgumentError(absl::StrCat(d.path, ".source: \"", d.source,
                                                     "\" is not a data source (current_task or pt_regs)"));
    }
    if (d.resolve.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(d.path, ".resolve: a data entry needs a resolve path"));
    }
  }
  return absl::OkStatus();
}

absl::Status RefuseNewerSelectorFields(const policy::Selector& s) {
  for (const auto* actions : {&s.match_actions, &s.match_return_actions}) {
    for (const policy::MatchAction& a : *actions) {
      if (!a.arg_regs.empty() || !a.arg_new_symbol.empty() || a.arg_new_addr != 0 || a.arg_new_offset != 0) {
        return Unimplemented(a.path, "Override on uprobes (argRegs, argNewSymbol, argNewAddr, argNewOffset)");
      }
    }
  }
  return absl::OkStatus();
}

void AppendNewerSpecRefusals(const policy::TracingPolicy& p, std::vector<absl::Status>* out) {
  if (absl::Status s = CheckSelectorWorkloads(p); !s.ok()) out->push_back(s);

  if (p.node_selector && (!p.node_selector->match_labels.empty() || !p.node_selector->match_expressions.empty())) {
    out->push_back(Unimplemented("spec.nodeSelector",
                                 "nodeSelector with labels (this sensor does not know its node's labels; an empty "
                                 "nodeSelector loads)"));
  }
}

}  // namespace tgd
