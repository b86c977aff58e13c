// DispatchBackend's run lists: for each (hook, cgroup), the datapath policy
// ids that apply and which of their selectors do not (matchWorkloads),
// recomputed from the entries and the policy filter state (on a policy add
// or delete, and when workloads change), and the per-hook flags telling the
// dispatcher which lists exist.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <glog/logging.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "bpf/dispatch/dispatch.skel.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/dispatch_backend_internal.h"

namespace tgd {
namespace {

constexpr uint64_t kHostCgroupKey = ~0ULL;

}  // namespace

void DispatchBackend::SetHookFlag(Hook* h, uint64_t cgroup, bool present) {
  uint32_t bit = cgroup == 0 ? TGD_HOOKF_UNFILTERED : cgroup == kHostCgroupKey ? TGD_HOOKF_HOST : 0;
  if (bit == 0) return;
  uint32_t flags = present ? (h->flags | bit) : (h->flags & ~bit);
  if (flags == h->flags) return;
  h->flags = flags;
  bpf_map_update_elem(bpf_map__fd(shared_->maps.tgd_hook_flags), &h->id, &flags, BPF_ANY);
}

void DispatchBackend::IndexEntry(Entry& e, const SelectorWorkloads* sw) {
  bool scoped = false;
  for (size_t i = 0; i < e.sel_filters.size(); ++i) {
    e.sel_filters[i] = sw ? sw->IdOf(e.compiled.spec_path, i) : 0;
    scoped |= e.sel_filters[i] != 0;
  }
  // An unfiltered entry with scoped selectors has them all scoped
  // (CheckSelectorWorkloads): it runs only where one of them applies.
  if (e.filter_id == 0 && scoped) {
    for (uint32_t f : e.sel_filters) {
      if (f != 0) e.hook->by_sel_filter[f].insert(e.id);
    }
  } else {
    e.hook->by_filter[e.filter_id].insert(e.id);
  }
}

void DispatchBackend::UnindexEntry(Entry& e) {
  Hook* h = e.hook;
  auto drop = [&](std::map<uint32_t, std::set<uint32_t>>& index, uint32_t f) {
    auto it = index.find(f);
    if (it == index.end()) return;
    it->second.erase(e.id);
    if (it->second.empty()) index.erase(it);
  };
  drop(h->by_filter, e.filter_id);
  for (uint32_t f : e.sel_filters) {
    if (f != 0) drop(h->by_sel_filter, f);
  }
}

absl::StatusOr<std::unique_ptr<SelectorWorkloads>> DispatchBackend::AddSelectorWorkloads(
    const std::vector<policy::Hook>& hooks, uint32_t filter_id) {
  (void)filter_id;  // CheckSpecLoadable refused what the policy's own scoping cannot carry
  if (opts_.per_policy) {
    for (const policy::Hook& hook : hooks) {
      for (const policy::Selector& sel : hook.selectors) {
        if (SelectorScoped(sel)) {
          return absl::UnimplementedError(
              absl::StrCat(WorkloadsPath(sel), ": not supported by the per-policy comparison loader"));
        }
      }
    }
    return nullptr;
  }
  return SelectorWorkloads::Create(opts_.filter, hooks, &next_sel_filter_id_);
}

absl::Status DispatchBackend::SyncSelectorLists(const std::vector<uint32_t>& ids, const SelectorWorkloads* sw) {
  if (!sw || sw->empty()) return absl::OkStatus();
  absl::MutexLock l(&mu_);
  std::set<std::pair<Hook*, uint64_t>> lists;
  for (uint32_t f : sw->ids()) {
    for (uint64_t cg : opts_.filter->CgroupsOfPolicy(f)) {
      for (uint32_t id : ids) {
        const Entry& e = *entries_.at(id);
        if (e.filter_id == 0) lists.insert({e.hook, cg});
      }
    }
  }
  for (const auto& [h, cg] : lists) TGD_RETURN_IF_ERROR(SyncRunList(h, cg, OverMax::kRefuse));
  return absl::OkStatus();
}

absl::Status DispatchBackend::SyncRunList(Hook* h, uint64_t cgroup, OverMax over_max) {
  // The filter ids whose cgroup set holds `cgroup` (sorted); {0} for the
  // hook's unfiltered list.
  std::vector<uint32_t> filters = {0};
  if (cgroup != 0) filters = opts_.filter ? opts_.filter->PoliciesOfCgroup(cgroup) : std::vector<uint32_t>{};
  // The selectors of `e` whose matchWorkloads does not hold `cgroup`.
  auto skip_of = [&](const Entry& e) {
    uint8_t skip = 0;
    for (size_t i = 0; i < e.sel_filters.size(); ++i) {
      uint32_t f = e.sel_filters[i];
      if (f != 0 && !std::binary_search(filters.begin(), filters.end(), f)) skip |= 1u << i;
    }
    return skip;
  };
  std::map<uint32_t, uint8_t> found;  // policy id -> sel_skip
  auto add = [&](const std::map<uint32_t, std::set<uint32_t>>& index, uint32_t f) {
    auto it = index.find(f);
    if (it == index.end()) return;
    for (uint32_t id : it->second) {
      auto e = entries_.find(id);
      if (e == entries_.end()) continue;
      const uint8_t skip = skip_of(*e->second);
      const uint32_t n_sel = e->second->compiled.cfg.n_selectors;
      // No selector applies here: the policy has nothing to do in this cgroup.
      if (n_sel > 0 && skip == ((1u << std::min<uint32_t>(n_sel, TGD_MAX_SELECTORS)) - 1)) continue;
      found[id] = skip;
    }
  };
  for (uint32_t f : filters) {
    if (f == 0 && cgroup != 0) continue;
    add(h->by_filter, f);
    if (cgroup != 0) add(h->by_sel_filter, f);
  }
  std::vector<std::pair<uint32_t, uint8_t>> want(found.begin(), found.end());
  auto key = std::make_pair(h->id, cgroup);
  auto it = run_lists_.find(key);
  if (it != run_lists_.end() && it->second == want) return absl::OkStatus();
  if (it == run_lists_.end() && want.empty()) return absl::OkStatus();
  // Keep each entry's list of run lists current.
  auto reindex = [&](const std::vector<std::pair<uint32_t, uint8_t>>& old_ids,
                     const std::vector<std::pair<uint32_t, uint8_t>>& new_ids) {
    for (const auto& [id, skip] : old_ids) {
      if (auto e = entries_.find(id); e != entries_.end()) e->second->lists.erase(cgroup);
    }
    for (const auto& [id, skip] : new_ids) {
      if (auto e = entries_.find(id); e != entries_.end()) e->second->lists.insert(cgroup);
    }
  };
  const std::vector<std::pair<uint32_t, uint8_t>> old_ids =
      it != run_lists_.end() ? it->second : std::vector<std::pair<uint32_t, uint8_t>>{};
  tgd_run_key rk{};
  rk.hook_id = h->id;
  rk.cgroup_id = cgroup;
  int refs = bpf_map__fd(shared_->maps.tgd_run_lists);
  auto old_slot = run_slots_.find(key);
  if (want.empty()) {
    SetHookFlag(h, cgroup, false);  // before the list goes: no event looks for it
    bpf_map_delete_elem(refs, &rk);
    if (old_slot != run_slots_.end()) {
      run_pool_->Retire(old_slot->second);  // reused after a grace period
      run_slots_.erase(old_slot);
    }
    run_lists_.erase(key);
    reindex(old_ids, {});
    return absl::OkStatus();
  }
  tgd_run_slot v{};
  v.owner = rk;
  tgd_run_list& list = v.list;
  if (want.size() > TGD_RUN_MAX) {
    if (over_max == OverMax::kRefuse) {
      return absl::ResourceExhaustedError(absl::StrCat("more than ", TGD_RUN_MAX, " policies on ", h->key,
                                                       " would apply to cgroup ", cgroup));
    }
    // A workload change (or a delete from such a list) cannot be refused:
    // the oldest policies run, and every event of the cgroup on this hook
    // counts as truncated (per hook: truncated_lists).
    LOG(WARNING) << want.size() << " policies on " << h->key << " apply to cgroup " << cgroup << "; only the first "
                 << TGD_RUN_MAX << " run (the events count as truncated)";
    want.resize(TGD_RUN_MAX);
    list.flags |= TGD_RUNF_TRUNCATED;
  }
  list.n = want.size();
  for (size_t i = 0; i < want.size(); ++i) {
    auto e = entries_.find(want[i].first);
    list.policy[i] = e != entries_.end() ? e->second->cfg_index : kNoSlot;  // kNoSlot: finds no config
    list.sel_skip[i] = want[i].second;
    uint8_t gate = e != entries_.end() && e->second->gate_added ? e->second->gate.kind : TGD_GATE_NONE;
    list.gate[i] = gate;
    if (gate == TGD_GATE_NONE) {
      list.ungated++;
    } else {
      list.gate_kinds |= 1u << gate;
    }
  }
  // A free slot written whole, then one reference switched to it: an event
  // sees the old list or the new one.
  TGD_ASSIGN_OR_RETURN(uint32_t slot, run_pool_->Allocate());
  v.seq = run_pool_->NextSeq();
  if (absl::Status s = run_pool_->Write(slot, &v); !s.ok()) {
    run_pool_->Unallocate(slot);
    return s;
  }
  uint64_t ref = TGD_SLOT_REF(slot, v.seq);
  if (bpf_map_update_elem(refs, &rk, &ref, BPF_ANY) != 0) {
    int err = errno;
    run_pool_->Unallocate(slot);
    if (err == E2BIG) {
      return absl::ResourceExhaustedError(absl::StrCat("tgd_run_lists is full (", opts_.max_run_lists, ")"));
    }
    return ErrnoStatus(err, "publishing a run list");
  }
  if (old_slot != run_slots_.end()) {
    run_pool_->Retire(old_slot->second);
    old_slot->second = slot;
  } else {
    run_slots_[key] = slot;
  }
  reindex(old_ids, want);
  run_lists_[key] = std::move(want);
  SetHookFlag(h, cgroup, true);
  return absl::OkStatus();
}

void DispatchBackend::OnCgroupsChanged(const std::vector<uint64_t>& cgroups) {
  absl::MutexLock l(&mu_);
  if (shutting_down_) return;  // nothing runs any more
  if (opts_.per_policy) {
    for (auto& [id, e] : entries_) {
      if (e->filter_id == 0) continue;
      for (uint64_t cg : cgroups) {
        absl::Status s = SyncPerPolicyCgroup(*e, cg);
        if (!s.ok()) LOG(ERROR) << "per-policy cgroup set of " << e->policy_name << ": " << s;
      }
    }
    return;
  }
  for (auto& [key, h] : hooks_) {
    for (uint64_t cg : cgroups) {
      absl::Status s = SyncRunList(h.get(), cg, OverMax::kTruncate);
      if (!s.ok()) LOG(ERROR) << "run list of " << key << " for cgroup " << cg << ": " << s;
    }
  }
}

}  // namespace tgd
