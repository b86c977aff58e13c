// matchWorkloads scoping (see workload_scope.h).
#include "sensor/loader/workload_scope.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tgd {
namespace {

bool MatchAll(const std::optional<labels::LabelSelector>& s) { return s && s->empty(); }

}  // namespace

std::optional<WorkloadFilter> EffectiveWorkloads(const policy::MatchWorkloads& w) {
  WorkloadFilter f{w.pod_selector, w.container_selector, w.host_selector};
  if (f.pod && !f.container) f.container = labels::LabelSelector{};
  if (f.container && !f.pod) f.pod = labels::LabelSelector{};
  if (MatchAll(f.pod) && MatchAll(f.container) && MatchAll(f.host)) return std::nullopt;
  if (!f.pod && !f.container && !f.host) return std::nullopt;
  return f;
}

bool SelectorScoped(const policy::Selector& s) {
  return s.match_workloads && EffectiveWorkloads(*s.match_workloads).has_value();
}

std::string WorkloadsPath(const policy::Selector& s) {
  return s.match_workloads && !s.match_workloads->path.empty() ? s.match_workloads->path
                                                                : s.path + ".matchWorkloads";
}

absl::Status CheckSelectorWorkloads(const policy::TracingPolicy& tp) {
  if (tp.namespaced() || tp.pod_selector || tp.container_selector || tp.host_selector) return absl::OkStatus();
  for (const policy::Hook& h : tp.hooks) {
    const policy::Selector* scoped = nullptr;
    bool unscoped = false;
    for (const policy::Selector& s : h.selectors) {
      if (SelectorScoped(s)) {
        if (!scoped) scoped = &s;
      } else {
        unscoped = true;
      }
    }
    if (scoped && unscoped) {
      return absl::UnimplementedError(absl::StrCat(
          WorkloadsPath(*scoped),
          ": matchWorkloads in a policy without podSelector, containerSelector, hostSelector or namespace is "
          "supported when every selector of the hook has one (here another selector applies to every workload); "
          "give the policy a podSelector or hostSelector, or every selector a matchWorkloads"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tgd
