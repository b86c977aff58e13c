// DispatchBackend's per-entry kernel state: the config of a (policy, hook)
// entry (a slot switched by one reference: its config index's element for
// the dispatchers, its own config map for a per-policy object), the config
// indexes the run lists name, mode and enable switches, and the entry's
// counters and kernel memory.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "bpf/dispatch/dispatch.skel.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/dispatch_backend_internal.h"

namespace tgd {

using dispatch_internal::FdMemlock;

absl::Status DispatchBackend::WriteConfig(Entry& e, uint32_t flags) {
  tgd_policy_cfg cfg = e.compiled.cfg;
  cfg.policy_id = e.id;
  cfg.gen = e.gen;
  cfg.flags = flags;
  cfg.hook_id = e.hook->id;
  // A free slot written whole, then the policy's reference switched to it
  // (one u64 hash update, no grace period): an event sees the old config or
  // the new one. The replaced slot is reused after a grace period.
  tgd_cfg_slot v{};
  v.owner = e.id;
  v.cfg = cfg;
  TGD_ASSIGN_OR_RETURN(uint32_t slot, cfg_pool_->Allocate());
  v.seq = cfg_pool_->NextSeq();
  if (absl::Status s = cfg_pool_->Write(slot, &v); !s.ok()) {
    cfg_pool_->Unallocate(slot);
    return s;
  }
  uint64_t ref = TGD_SLOT_REF(slot, v.seq);
  // Dispatch: the element of its config index (the run lists name the
  // index); per-policy: its own config map, by policy id.
  const bool indexed = e.cfg_index != kNoSlot;
  const int fd = indexed ? bpf_map__fd(shared_->maps.tgd_cfg_index) : e.maps.cfgs;
  const void* key = indexed ? static_cast<const void*>(&e.cfg_index) : &e.id;
  if (bpf_map_update_elem(fd, key, &ref, BPF_ANY) != 0) {
    int err = errno;
    cfg_pool_->Unallocate(slot);
    if (err == E2BIG) {
      return absl::ResourceExhaustedError(
          absl::StrCat("tgd_policy_cfgs is full (", opts_.max_policies, " policy hooks)"));
    }
    return ErrnoStatus(err, "publishing a policy config");
  }
  if (e.cfg_slot != kNoSlot) cfg_pool_->Retire(e.cfg_slot);
  e.cfg_slot = slot;
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> DispatchBackend::AllocateCfgIndex() {
  absl::MutexLock l(&index_mu_);
  if (!free_cfg_indexes_.empty()) {
    uint32_t i = free_cfg_indexes_.back();
    free_cfg_indexes_.pop_back();
    return i;
  }
  if (next_cfg_index_ >= opts_.max_policies) {
    return absl::ResourceExhaustedError(absl::StrCat("tgd_cfg_index is full (", opts_.max_policies, " policy hooks)"));
  }
  return next_cfg_index_++;
}

void DispatchBackend::FreeCfgIndex(uint32_t index) {
  absl::MutexLock l(&index_mu_);
  free_cfg_indexes_.push_back(index);
}

absl::Status DispatchBackend::SetEntryFlags(const std::vector<uint32_t>& ids, uint32_t flags) {
  absl::MutexLock l(&mu_);
  for (uint32_t id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return absl::NotFoundError(absl::StrCat("policy entry ", id, " is gone"));
    TGD_RETURN_IF_ERROR(WriteConfig(*it->second, flags));
  }
  return absl::OkStatus();
}

PolicyCounters DispatchBackend::EntryCounters(const std::vector<uint32_t>& ids) const {
  PolicyCounters out;
  int fd = bpf_map__fd(shared_->maps.tgd_policy_counters);
  for (uint32_t id : ids) {
    tgd_policy_counters c{};
    if (bpf_map_lookup_elem(fd, &id, &c) != 0) continue;  // being deleted
    out.events += c.posted;
    out.missed += c.lost;
    out.signals += c.signals;
    out.monitor_signals += c.monitor_signals;
    out.overrides += c.overrides;
    out.monitor_overrides += c.monitor_overrides;
  }
  return out;
}

uint64_t DispatchBackend::EntryMemory(const std::vector<uint32_t>& ids) const {
  // Own inner config map (measured) + value entries + run-list share. Value
  // entries live in shared maps: each costs its hash/trie element (key +
  // value + the kernel's element header, ~48 bytes), counted per entry.
  absl::MutexLock l(&mu_);
  uint64_t total = 0;
  for (uint32_t id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    const Entry& e = *it->second;
    total += cfg_pool_->chunk_bytes() / cfg_pool_->chunk_slots();  // its config slot
    if (e.pp_obj) {  // its own maps hold its values: measured, not estimated
      bpf_map* m;
      bpf_object__for_each_map(m, e.pp_obj.get()) {
        if (PerPolicyOwnsMap(bpf_map__name(m))) total += FdMemlock(bpf_map__fd(m));
      }
      continue;
    }
    const CompiledHook& c = e.compiled;
    total += sizeof(tgd_policy_counters) + 8 + 48;  // its counters element
    total += sizeof(uint64_t);  // its config index element (tgd_cfg_index, preallocated)
    // A gate value several policies of the hook hold is counted in each.
    total += (c.ints.size() + e.gate.values.size()) * (sizeof(tgd_int_key) + 8 + 48);
    total += c.strs.size() * (sizeof(tgd_str_key) + 8 + 48);
    total += (c.prefixes.size() + c.postfixes.size()) * (sizeof(tgd_lpm_key) + 8 + 48);
    // Its share of the run lists it is in.
    for (uint64_t cg : e.lists) {
      auto rl = run_lists_.find({e.hook->id, cg});
      if (rl != run_lists_.end() && !rl->second.empty()) {
        total += run_pool_->chunk_bytes() / run_pool_->chunk_slots() / rl->second.size();
      }
    }
  }
  return total;
}

}  // namespace tgd
