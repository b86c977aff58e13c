// DispatchBackend's per-hook dispatchers: one dispatcher object per hook,
// loaded from the shared object with the hook's id, attached, and detached
// with the hook's last policy; and attaching any program to a policy's hook.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <glog/logging.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bpf/dispatch/dispatch.skel.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/dispatch_backend_internal.h"

namespace tgd {
namespace dispatch_internal {

// An attach failure as a status. libbpf's own codes (4000-4099: the ELF of
// a uprobe binary it could not read, ...) become INVALID_ARGUMENT with
// libbpf's text, not strerror's "Unknown error 4001".
absl::Status AttachError(int err, const std::string& what) {
  if (err >= 4000 && err < 4100) {
    char buf[128] = {0};
    libbpf_strerror(err, buf, sizeof(buf));
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", buf, " (libbpf error ", err, ")"));
  }
  return ErrnoStatus(err, what);
}

// Attaches `prog` (a dispatcher or a per-policy program) to `c`'s hook.
// Uprobes cover every process; libbpf resolves the symbol in the ELF.
bpf_link* AttachToHook(bpf_program* prog, const CompiledHook& c) {
  switch (c.kind) {
    case TGD_HOOK_TRACEPOINT: return bpf_program__attach_tracepoint(prog, c.subsystem.c_str(), c.event.c_str());
    case TGD_HOOK_RAW_TP: return bpf_program__attach_raw_tracepoint(prog, c.event.c_str());
    case TGD_HOOK_UPROBE: {
      // A symbol (libbpf resolves it in the ELF), or a file offset (also a
      // USDT site's); with the offset of a reference counter (semaphore).
      LIBBPF_OPTS(bpf_uprobe_opts, o, .ref_ctr_offset = static_cast<size_t>(c.ref_ctr_offset),
                  .retprobe = c.retprobe,
                  .func_name = c.call.empty() || !c.usdt_provider.empty() ? nullptr : c.call.c_str());
      const std::string& path = c.attach_path.empty() ? c.binary_path : c.attach_path;
      return bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), c.offset, &o);
    }
    case TGD_HOOK_LSM: return bpf_program__attach_lsm(prog);
    default:
      if (!c.attach_path.empty()) {  // DispatchOptions::test_kprobes_as_uprobes_on
        LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = c.retprobe, .func_name = c.call.c_str());
        return bpf_program__attach_uprobe_opts(prog, -1, c.attach_path.c_str(), 0, &o);
      }
      return bpf_program__attach_kprobe(prog, c.retprobe, c.call.c_str());
  }
}

}  // namespace dispatch_internal

using dispatch_internal::AttachError;
using dispatch_internal::AttachToHook;

// ---------------------------------------------------------------- hooks

// The pin of hook `id`'s dispatcher link (in opts_.pins).
std::string DispatchBackend::PinName(uint32_t id) { return absl::StrCat("hook-", id); }

// Program name suffix of a hook kind (uprobes run the kprobe-type programs).
const char* DispatchBackend::ProgSuffix(int kind) {
  switch (kind) {
    case TGD_HOOK_TRACEPOINT: return "tp";
    case TGD_HOOK_RAW_TP: return "rawtp";
    case TGD_HOOK_LSM: return "lsm";
    default: return "kprobe";
  }
}

bpf_map* DispatchBackend::TailMap(int kind) const {
  switch (kind) {
    case TGD_HOOK_TRACEPOINT: return shared_->maps.tgd_tail_tp;
    case TGD_HOOK_RAW_TP: return shared_->maps.tgd_tail_rawtp;
    case TGD_HOOK_LSM: return shared_->maps.tgd_tail_lsm;
    default: return shared_->maps.tgd_tail_kprobe;
  }
}

absl::StatusOr<DispatchBackend::Hook*> DispatchBackend::GetOrCreateHook(const CompiledHook& c) {
  auto it = hooks_.find(c.hook_key);
  if (it != hooks_.end()) return it->second.get();
  uint32_t id;
  if (!free_hook_ids_.empty()) {
    id = *free_hook_ids_.begin();
    free_hook_ids_.erase(free_hook_ids_.begin());
  } else {
    if (next_hook_id_ >= TGD_MAX_HOOKS) {
      return absl::ResourceExhaustedError(absl::StrCat("at most ", TGD_MAX_HOOKS - 1, " distinct hooks"));
    }
    id = next_hook_id_++;
  }
  auto h = std::make_unique<Hook>();
  h->id = id;
  h->key = c.hook_key;
  h->kind = c.kind;
  auto give_back = [&] { free_hook_ids_.insert(id); };
  if (opts_.per_policy) {  // hooks are only ids (stats); programs are per policy
    Hook* raw = h.get();
    hooks_[c.hook_key] = std::move(h);
    return raw;
  }

  size_t sz = 0;
  const void* elf = dispatch::elf_bytes(&sz);
  std::string obj_name = absl::StrCat("tgd_hook_", id);
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = obj_name.c_str());
  h->obj.reset(bpf_object__open_mem(elf, sz, &open_opts));
  if (!h->obj) {
    give_back();
    return ErrnoStatus(errno, "opening the dispatch object for " + c.hook_key);
  }
  const std::string disp_name = absl::StrCat("tgd_disp_", ProgSuffix(c.kind));
  const std::string eval_name = absl::StrCat("tgd_eval_", ProgSuffix(c.kind));
  bpf_map* tail = TailMap(c.kind);
  bpf_program* prog;
  bpf_object__for_each_program(prog, h->obj.get()) {
    const char* name = bpf_program__name(prog);
    bool load = name == disp_name || name == eval_name;
    bpf_program__set_autoload(prog, load);
    if (load && c.kind == TGD_HOOK_LSM) {
      int err = bpf_program__set_attach_target(prog, 0, c.call.c_str());
      if (err) {
        give_back();
        return LibbpfStatus(err, "LSM hook " + c.call);
      }
    }
  }
  bpf_map* map;
  bpf_object__for_each_map(map, h->obj.get()) {
    const char* name = bpf_map__name(map);
    if (absl::EndsWith(name, ".rodata")) {
      size_t rsz = 0;
      const void* ro = bpf_map__initial_value(map, &rsz);
      if (!ro || rsz < offsetof(dispatch::dispatch__rodata, tgd_hook_id) + sizeof(id)) {
        give_back();
        return absl::InternalError("dispatch object has no .rodata for the hook id");
      }
      std::string data(static_cast<const char*>(ro), rsz);
      memcpy(data.data() + offsetof(dispatch::dispatch__rodata, tgd_hook_id), &id, sizeof(id));
      int err = bpf_map__set_initial_value(map, data.data(), data.size());
      if (err) {
        give_back();
        return LibbpfStatus(err, "setting the hook id");
      }
      continue;
    }
    bpf_map* shared = bpf_object__find_map_by_name(shared_->obj, name);
    if (!shared || bpf_map__fd(shared) < 0) continue;
    int err = bpf_map__reuse_fd(map, bpf_map__fd(shared));
    if (err) {
      give_back();
      return LibbpfStatus(err, absl::StrCat("sharing map ", name, " with ", c.hook_key));
    }
  }
  int err = bpf_object__load(h->obj.get());
  if (err) {
    give_back();
    return LibbpfStatus(err, "loading the dispatcher for " + c.hook_key);
  }
  bpf_program* disp = bpf_object__find_program_by_name(h->obj.get(), disp_name.c_str());
  bpf_program* eval = bpf_object__find_program_by_name(h->obj.get(), eval_name.c_str());
  h->dispatcher_fd = bpf_program__fd(disp);
  h->evaluator_fd = bpf_program__fd(eval);
  if (bpf_map_update_elem(bpf_map__fd(tail), &id, &h->evaluator_fd, BPF_ANY) != 0) {
    give_back();
    return ErrnoStatus(errno, "installing the policy program of " + c.hook_key);
  }
  bpf_link* link = AttachToHook(disp, c);
  if (!link) {
    int e = errno;
    bpf_map_delete_elem(bpf_map__fd(tail), &id);
    give_back();
    return AttachError(e, "attaching the dispatcher to " + c.hook_key);
  }
  h->link.reset(link);
  if (opts_.pins) {
    absl::Status pinned = opts_.pins->Pin(bpf_link__fd(link), PinName(id));
    if (!pinned.ok()) {
      h->link.reset();
      bpf_map_delete_elem(bpf_map__fd(tail), &id);
      give_back();
      return absl::Status(pinned.code(), absl::StrCat("the dispatcher of ", c.hook_key,
                                                      " would not outlive the daemon: ", pinned.message()));
    }
  }
  Hook* raw = h.get();
  hooks_[c.hook_key] = std::move(h);
  LOG(INFO) << "dispatcher attached to " << c.hook_key << " (hook id " << id << ")";
  return raw;
}

void DispatchBackend::ReleaseHook(Hook* h) {
  if (!h->entries.empty()) return;
  if (opts_.per_policy) {
    free_hook_ids_.insert(h->id);
    hooks_.erase(h->key);
    return;
  }
  bpf_map* tail = TailMap(h->kind);
  if (opts_.pins) opts_.pins->Unpin(PinName(h->id));
  h->link.reset();
  bpf_map_delete_elem(bpf_map__fd(tail), &h->id);
  uint32_t no_flags = 0;
  bpf_map_update_elem(bpf_map__fd(shared_->maps.tgd_hook_flags), &h->id, &no_flags, BPF_ANY);
  // Zero the hook's counters for the next user of the id.
  std::vector<tgd_hook_stats> zero(libbpf_num_possible_cpus());
  bpf_map_update_elem(bpf_map__fd(shared_->maps.tgd_stats), &h->id, zero.data(), BPF_ANY);
  free_hook_ids_.insert(h->id);
  LOG(INFO) << "dispatcher detached from " << h->key;
  hooks_.erase(h->key);
}

std::vector<HookStatus> DispatchBackend::Hooks() const {
  absl::MutexLock l(&mu_);
  std::vector<HookStatus> out;
  int ncpu = libbpf_num_possible_cpus();
  std::vector<tgd_hook_stats> per_cpu(ncpu);
  for (const auto& [key, h] : hooks_) {
    HookStatus s;
    s.key = key;
    s.id = h->id;
    s.dispatcher_fd = h->dispatcher_fd;
    s.evaluator_fd = h->evaluator_fd;
    s.policies = h->entries.size();
    if (bpf_map_lookup_elem(bpf_map__fd(shared_->maps.tgd_stats), &h->id, per_cpu.data()) == 0) {
      for (const tgd_hook_stats& c : per_cpu) {
        s.stats.runs += c.runs;
        s.stats.tail_call_fail += c.tail_call_fail;
        s.stats.evaluated += c.evaluated;
        s.stats.posted += c.posted;
        s.stats.lost += c.lost;
        s.stats.actions += c.actions;
        s.stats.monitor_actions += c.monitor_actions;
        s.stats.truncated_lists += c.truncated_lists;
        s.stats.scratch_busy += c.scratch_busy;
        s.stats.rate_limited += c.rate_limited;
        s.stats.gated += c.gated;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tgd
