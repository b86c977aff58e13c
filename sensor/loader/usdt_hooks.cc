#include "sensor/loader/usdt_hooks.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/elf_file.h"

namespace tgd {

absl::StatusOr<std::vector<CompiledHook>> UsdtSiteHooks(int fd, const policy::Hook& hook, const CompiledHook& c) {
  TGD_ASSIGN_OR_RETURN(std::vector<UsdtSite> all, ReadUsdtSites(fd, hook.path + ".path"));
  std::vector<CompiledHook> out;
  for (const UsdtSite& site : all) {
    if (site.provider != c.usdt_provider || site.name != c.call) continue;
    TGD_ASSIGN_OR_RETURN(std::vector<UsdtArgSpec> specs,
                         ParseUsdtArgs(site.args, absl::StrCat(hook.path, ": USDT ", site.provider, ":", site.name)));
    CompiledHook h = c;
    h.offset = site.offset;
    h.ref_ctr_offset = site.semaphore_offset;
    absl::StrAppend(&h.hook_key, "@0x", absl::Hex(site.offset));
    for (size_t i = 0; i < hook.args.size() && i < TGD_MAX_ARGS; ++i) {
      tgd_arg_desc& d = h.cfg.args[i];
      if (d.spec_index >= specs.size()) {
        return absl::InvalidArgumentError(absl::StrCat(hook.path, ".args[", i, "].index: ", d.spec_index,
                                                       " is out of range: USDT ", site.provider, ":", site.name,
                                                       " has ", specs.size(), " arguments"));
      }
      const UsdtArgSpec& a = specs[d.spec_index];
      d.index = a.spec;
      d.offset = static_cast<uint16_t>(a.value & 0xffff);
      d.size_loc = static_cast<uint16_t>(a.value >> 16);
    }
    out.push_back(std::move(h));
  }
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat(hook.path, ": the binary has no USDT probe ", c.usdt_provider, ":", c.call));
  }
  return out;
}

}  // namespace tgd
