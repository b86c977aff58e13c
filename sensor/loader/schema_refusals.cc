// Refusals of the TracingPolicy fields the loader has no datapath for yet
// (see schema_refusals.h).
#include "sensor/loader/schema_refusals.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
      if (a.action == "FollowFD" || a.action == "UnfollowFD" || a.action == "CopyFD") {
        // Parsed (older policies name them), refused as current Tetragon does.
        return absl::InvalidArgumentError(absl::StrCat(
            a.path, ".action: ", a.action,
            " was removed from Tetragon (deprecated; its schema no longer lists it): remove the action"));
      }
      if (!a.arg_regs.empty() || !a.arg_new_symbol.empty() || a.arg_new_addr != 0 || a.arg_new_offset != 0) {
        return Unimplemented(a.path, "Override on uprobes (argRegs, argNewSymbol, argNewAddr, argNewOffset)");
      }
    }
  }
  return absl::OkStatus();
}

void AppendNewerSpecRefusals(const policy::TracingPolicy& p, std::vector<absl::Status>* out,
                             const labels::Labels* node_labels) {
  if (absl::Status s = CheckSelectorWorkloads(p); !s.ok()) out->push_back(s);
  if (!p.node_selector || p.node_selector->empty()) return;
  if (node_labels == nullptr) {
    out->push_back(absl::UnimplementedError(
        "spec.nodeSelector: nodeSelector with labels needs this node's labels: start tgdispatch with "
        "--node-labels=key=value,... (an empty nodeSelector loads)"));
  } else if (!labels::Matches(*p.node_selector, *node_labels)) {
    std::string have;
    for (const auto& [k, v] : *node_labels) absl::StrAppend(&have, have.empty() ? "" : ",", k, "=", v);
    out->push_back(absl::FailedPreconditionError(absl::StrCat(
        "spec.nodeSelector: does not select this node (--node-labels=", have,
        "): as Tetragon, the policy is not loaded on a node it does not select")));
  }
}

absl::StatusOr<labels::Labels> ParseNodeLabels(absl::string_view flag) {
  labels::Labels out;
  for (absl::string_view entry : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--node-labels: \"", entry, "\" is not key=value"));
    }
    std::string key(entry.substr(0, eq));
    if (!out.emplace(key, std::string(entry.substr(eq + 1))).second) {
      return absl::InvalidArgumentError(absl::StrCat("--node-labels: key \"", key, "\" given twice"));
    }
  }
  return out;
}

}  // namespace tgd
