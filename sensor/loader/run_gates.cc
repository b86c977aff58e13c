// Gates of the run lists: GateOf (pure) and the reference-counted unions.
#include "sensor/loader/run_gates.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <set>

#include "absl/strings/str_cat.h"
#include "sensor/base/errno_status.h"

namespace tgd {

RunGate GateOf(const CompiledHook& c) {
  const tgd_policy_cfg& cfg = c.cfg;
  const uint32_t n = cfg.n_selectors;
  if (n == 0 || n > TGD_MAX_SELECTORS) return {};
  for (uint32_t a = 0; a < cfg.n_args && a < TGD_MAX_ARGS; ++a) {
    if (cfg.args[a].type == TGD_ARG_SOCK || cfg.args[a].type == TGD_ARG_SOCKET) return {};
  }
  // Process tracking this function does not know (a clause that follows a
  // process's children, for one) may widen what a binary or pid matches.
  if (c.track_flags & ~(TGD_TRACK_PARENT_BIN | TGD_TRACK_EXEC_CREDS)) return {};
  // The clause kinds whose meaning is known here: each only adds a
  // condition to the selector's matchBinaries / matchPIDs.
  constexpr uint32_t kKnown = TGD_SEL_BINARIES | TGD_SEL_PIDS | TGD_SEL_CAPS | TGD_SEL_PIDS_NS |
                              TGD_SEL_PIDS_FOLLOW | TGD_SEL_LINEAGE | TGD_SEL_CHANGES;
  bool bin = true, pid = true;
  for (uint32_t s = 0; s < n; ++s) {
    const tgd_selector& sel = cfg.sel[s];
    if (sel.flags & ~kKnown) return {};
    bin = bin && sel.bin_op == TGD_OP_EQ;
    pid = pid && sel.pid_op == TGD_OP_EQ && !(sel.flags & (TGD_SEL_PIDS_NS | TGD_SEL_PIDS_FOLLOW));
  }
  RunGate g;
  uint32_t tag_kind;
  if (bin) {
    g.kind = TGD_GATE_BIN;
    tag_kind = TGD_TAG_BIN_HASH;  // the hashes of the In values (the datapath's first lookup)
  } else if (pid) {
    g.kind = TGD_GATE_PID;
    tag_kind = TGD_TAG_PID;
  } else {
    return {};
  }
  std::set<uint64_t> values;
  for (const tgd_int_key& k : c.ints) {
    if (((k.tag >> 8) & 0xf) == tag_kind) values.insert(k.value);
  }
  g.values.assign(values.begin(), values.end());
  return g;
}

absl::Status GateUnion::Add(uint32_t hook_id, const RunGate& g) {
  if (g.kind == TGD_GATE_NONE) return absl::OkStatus();
  absl::MutexLock l(&mu_);
  uint8_t one = 1;
  for (size_t i = 0; i < g.values.size(); ++i) {
    Key key{hook_id, g.kind, g.values[i]};
    uint32_t& refs = refs_[key];
    if (refs++ > 0) continue;
    tgd_int_key k{TGD_GATE_POLICY, TGD_GATE_TAG(hook_id, g.kind), g.values[i]};
    if (bpf_map_update_elem(fd_, &k, &one, BPF_ANY) != 0) {
      int err = errno;
      for (size_t j = 0; j <= i; ++j) Drop({hook_id, g.kind, g.values[j]});
      if (err == E2BIG) return absl::ResourceExhaustedError("tgd_int_values is full (gate values)");
      return ErrnoStatus(err, "adding a gate value to tgd_int_values");
    }
  }
  return absl::OkStatus();
}

void GateUnion::Remove(uint32_t hook_id, const RunGate& g) {
  if (g.kind == TGD_GATE_NONE) return;
  absl::MutexLock l(&mu_);
  for (uint64_t v : g.values) Drop({hook_id, g.kind, v});
}

void GateUnion::Drop(const Key& key) {
  auto it = refs_.find(key);
  if (it == refs_.end()) return;
  if (--it->second > 0) return;
  refs_.erase(it);
  tgd_int_key k{TGD_GATE_POLICY, TGD_GATE_TAG(std::get<0>(key), std::get<1>(key)), std::get<2>(key)};
  bpf_map_delete_elem(fd_, &k);
}

size_t GateUnion::size() const {
  absl::MutexLock l(&mu_);
  return refs_.size();
}

}  // namespace tgd
