// DispatchBackend's per-policy comparison mode (PerPolicyBackend): each
// (policy, hook) entry loads its own per_policy object with its own config
// and value maps and its own cgroup set.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bpf/dispatch/dispatch.skel.h"
#include "bpf/dispatch/per_policy.skel.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/dispatch_backend_internal.h"

namespace tgd {

// Maps a per-policy object owns (everything else is shared infrastructure).
bool PerPolicyOwnsMap(absl::string_view name) {
  return absl::StartsWith(name, "tgd_pp_") || name == "tgd_policy_cfgs" || name == "tgd_int_values" ||
         name == "tgd_str_values" || name == "tgd_str_prefix" || name == "tgd_str_postfix";
}

absl::Status DispatchBackend::LoadPerPolicyObject(Entry& e) {
  const CompiledHook& c = e.compiled;
  size_t sz = 0;
  const void* elf = per_policy::elf_bytes(&sz);
  std::string obj_name = absl::StrCat("tgd_pp_", e.id);
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = obj_name.c_str());
  e.pp_obj.reset(bpf_object__open_mem(elf, sz, &open_opts));
  if (!e.pp_obj) return ErrnoStatus(errno, "opening the per-policy object for " + c.hook_key);
  const std::string prog_name = absl::StrCat("tgd_pp_", ProgSuffix(c.kind));
  bpf_program* prog;
  bpf_object__for_each_program(prog, e.pp_obj.get()) {
    bool load = prog_name == bpf_program__name(prog);
    bpf_program__set_autoload(prog, load);
    if (load && c.kind == TGD_HOOK_LSM) {
      TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_program__set_attach_target(prog, 0, c.call.c_str()), "LSM hook " + c.call));
    }
  }
  bpf_map* map;
  bpf_object__for_each_map(map, e.pp_obj.get()) {
    const char* name = bpf_map__name(map);
    if (absl::EndsWith(name, ".rodata")) {
      size_t rsz = 0;
      const void* ro = bpf_map__initial_value(map, &rsz);
      if (!ro || rsz < sizeof(per_policy::per_policy__rodata)) {
        return absl::InternalError("per-policy object has an unexpected .rodata");
      }
      std::string data(static_cast<const char*>(ro), rsz);
      per_policy::per_policy__rodata vals;
      memcpy(&vals, data.data(), sizeof(vals));
      vals.tgd_hook_id = e.hook->id;
      vals.tgd_pp_policy_id = e.id;
      vals.tgd_pp_filtered = e.filter_id != 0;
      memcpy(data.data(), &vals, sizeof(vals));
      TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_map__set_initial_value(map, data.data(), data.size()), "rodata"));
      continue;
    }
    if (PerPolicyOwnsMap(name)) {
      // One policy's own maps: its config, and value sets sized to its values
      // (Tetragon's per-policy string and argument maps are small too).
      if (strcmp(name, "tgd_policy_cfgs") == 0) {
        bpf_map__set_max_entries(map, 1);
      } else if (!absl::StartsWith(name, "tgd_pp_")) {
        const CompiledHook& ch = e.compiled;
        size_t n = std::max({ch.ints.size(), ch.strs.size(), ch.prefixes.size(), ch.postfixes.size()});
        bpf_map__set_max_entries(map, std::max<size_t>(n, 16));
      }
      continue;
    }
    bpf_map* shared = bpf_object__find_map_by_name(shared_->obj, name);
    if (!shared || bpf_map__fd(shared) < 0) continue;
    TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_map__reuse_fd(map, bpf_map__fd(shared)), absl::StrCat("sharing ", name)));
  }
  TGD_RETURN_IF_ERROR(LibbpfStatus(bpf_object__load(e.pp_obj.get()), "loading the per-policy program for " + c.hook_key));
  auto fd_of = [&](const char* name) { return bpf_map__fd(bpf_object__find_map_by_name(e.pp_obj.get(), name)); };
  e.maps.cfgs = fd_of("tgd_policy_cfgs");
  e.maps.ints = fd_of("tgd_int_values");
  e.maps.strs = fd_of("tgd_str_values");
  e.maps.prefixes = fd_of("tgd_str_prefix");
  e.maps.postfixes = fd_of("tgd_str_postfix");
  return absl::OkStatus();
}

absl::Status DispatchBackend::SyncPerPolicyCgroup(Entry& e, uint64_t cgroup) {
  if (!opts_.filter || e.filter_id == 0 || !e.pp_obj) return absl::OkStatus();
  int fd = bpf_map__fd(bpf_object__find_map_by_name(e.pp_obj.get(), "tgd_pp_cgroups"));
  std::vector<uint32_t> filters = opts_.filter->PoliciesOfCgroup(cgroup);
  bool in = std::find(filters.begin(), filters.end(), e.filter_id) != filters.end();
  uint8_t one = 1;
  if (in) {
    if (bpf_map_update_elem(fd, &cgroup, &one, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "adding a cgroup to a per-policy cgroup set");
    }
  } else {
    bpf_map_delete_elem(fd, &cgroup);
  }
  return absl::OkStatus();
}

}  // namespace tgd
