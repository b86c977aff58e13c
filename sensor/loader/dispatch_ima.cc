// DispatchBackend and imaHash: a process_lsm event whose matching selector's
// Post has imaHash goes to the hasher (sensor/imahash) with the path of the
// hook's first argument (the bprm's file or the file, as Tetragon's
// bpf_generic_lsm_ima_bprm / _file programs hash), which adds ima_hash and
// publishes it. Hooks Tetragon has no IMA program for get no hash (Tetragon
// warns and loads them without), nor does a policy that does not declare the
// hook's argument 0 (here the path comes from the rendered argument).
#include "absl/container/flat_hash_set.h"
#include "sensor/loader/dispatch_backend.h"

namespace tgd {
namespace {

// Tetragon's imaProgName: the hooks whose first argument it hashes.
bool IsBprmHook(const std::string& h) {
  static const auto* k =
      new absl::flat_hash_set<std::string>{"bprm_check_security", "bprm_committed_creds", "bprm_committing_creds",
                                           "bprm_creds_for_exec", "bprm_creds_from_file"};
  return k->contains(h);
}
bool IsFileHook(const std::string& h) {
  static const auto* k = new absl::flat_hash_set<std::string>{"file_ioctl",     "file_lock",    "file_open",
                                                              "file_post_open", "file_receive", "mmap_file"};
  return k->contains(h);
}

}  // namespace

bool DispatchBackend::HashLater(const tgd_policy_event& ev, tetragon::GetEventsResponse* out) {
  if (ima_hasher_ == nullptr || !out->has_process_lsm()) return false;
  const int sel = static_cast<int>((ev.flags >> TGD_EVF_SEL_SHIFT) & TGD_EVF_SEL_MASK);
  int pos = -1;
  std::string call;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(ev.policy_id);
    if (it == entries_.end()) return false;
    const CompiledHook& c = it->second->compiled;
    if (sel >= 32 || !(c.ima_hash_sels & (1u << sel))) return false;
    call = c.call;
    for (int j = 0; j < c.cfg.n_args && j < TGD_MAX_ARGS; ++j) {
      if (c.cfg.args[j].spec_index == 0) {
        pos = j;
        break;
      }
    }
  }
  const tetragon::ProcessLsm& m = out->process_lsm();
  if (pos < 0 || pos >= m.args_size()) return false;
  const tetragon::KprobeArgument& a = m.args(pos);
  std::string path;
  if (IsBprmHook(call) && a.has_linux_binprm_arg()) path = a.linux_binprm_arg().path();
  if (IsFileHook(call) && a.has_file_arg()) path = a.file_arg().path();
  if (path.empty()) return false;
  ima_hasher_->Submit(path, std::move(*out));
  return true;
}

}  // namespace tgd
