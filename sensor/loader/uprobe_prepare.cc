// Uprobe and usdt entries made ready to attach (see uprobe_prepare.h).
#include "sensor/loader/uprobe_prepare.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/binary_digest.h"
#include "sensor/loader/elf_file.h"
#include "sensor/loader/uprobe_target.h"
#include "sensor/loader/usdt_hooks.h"

namespace tgd {

absl::StatusOr<std::optional<FileDescriptor>> PrepareUprobeHook(const policy::Hook& hook, CompiledHook* c,
                                                                std::vector<CompiledHook>* sites) {
  // Opened before any lock, without blocking; attached through this
  // descriptor, so a path swapped for a FIFO meanwhile is not read.
  TGD_ASSIGN_OR_RETURN(FileDescriptor target, OpenUprobeTarget(c->binary_path, hook.path + ".path"));
  c->attach_path = absl::StrCat("/proc/self/fd/", target.get());
  if (!hook.binary_digests.empty()) {  // checked on the descriptor attached through
    absl::Status d = VerifyBinaryDigests(target.get(), hook.binary_digests, hook.path, c->binary_path);
    if (IsDigestMismatch(d) && hook.ignore_digest_verification_failure) return std::nullopt;
    TGD_RETURN_IF_ERROR(d);
  }
  if (c->addr != 0) {
    TGD_ASSIGN_OR_RETURN(c->offset, ElfFileOffsetOfAddr(target.get(), c->addr, hook.path + ".addrs"));
  }
  if (!c->usdt_provider.empty()) {
    // One uprobe per probe site, each with its semaphore and arguments.
    TGD_ASSIGN_OR_RETURN(*sites, UsdtSiteHooks(target.get(), hook, *c));
  }
  return std::optional<FileDescriptor>(std::move(target));
}

}  // namespace tgd
