// matchWorkloads filters of a policy's selectors (see selector_workloads.h).
#include "sensor/loader/selector_workloads.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"

namespace tgd {
absl::StatusOr<std::unique_ptr<SelectorWorkloads>> SelectorWorkloads::Create(PolicyFilterState* filter,
                                                                              const std::vector<policy::Hook>& hooks,
                                                                              std::atomic<uint32_t>* next_id) {
  std::unique_ptr<SelectorWorkloads> out(new SelectorWorkloads(filter));
  for (const policy::Hook& h : hooks) {
    for (const policy::Selector& s : h.selectors) {
      if (!s.match_workloads || out->by_path_.count(s.path)) continue;
      std::optional<WorkloadFilter> f = EffectiveWorkloads(*s.match_workloads);
      if (!f) continue;
      const std::string path = WorkloadsPath(s);
      if (!filter) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, ": matchWorkloads needs the workload registry, which this daemon was started without"));
      }
      for (;;) {
        uint32_t id = next_id->fetch_add(1);
        if (id < kSelectorFirstFilterId || id > kSelectorLastFilterId) {
          return absl::ResourceExhaustedError(absl::StrCat(path, ": no selector filter ids left"));
        }
        if (filter->PolicyIdInUse(id)) continue;
        absl::Status st = filter->AddPolicy(id, "", f->pod, f->container, f->host);
        if (st.code() == absl::StatusCode::kAlreadyExists) continue;
        if (!st.ok()) return absl::Status(st.code(), absl::StrCat(path, ".", st.message()));
        out->by_path_[s.path] = id;
        break;
      }
    }
  }
  return out;
}

SelectorWorkloads::~SelectorWorkloads() {
  if (keep_) return;
  for (const auto& [path, id] : by_path_) {
    absl::Status s = filter_->DelPolicy(id);
    if (!s.ok()) LOG(WARNING) << "policy filter: deleting the filter of " << path << ": " << s;
  }
}

uint32_t SelectorWorkloads::IdOf(const std::string& hook_path, size_t index) const {
  auto it = by_path_.find(absl::StrCat(hook_path, ".selectors[", index, "]"));
  return it == by_path_.end() ? 0 : it->second;
}

std::vector<uint32_t> SelectorWorkloads::ids() const {
  std::vector<uint32_t> out;
  for (const auto& [path, id] : by_path_) out.push_back(id);
  return out;
}

}  // namespace tgd
