// Set on usdts: the kernel check (see usdt_set.h).
#include "sensor/loader/usdt_set.h"

#include "absl/strings/str_cat.h"

namespace tgd {

absl::Status CheckUsdtSetSupported(const KernelFeatures& f, const policy::Hook& hook) {
  for (const policy::Selector& s : hook.selectors) {
    for (const policy::MatchAction& a : s.match_actions) {
      if (a.action != "Set") continue;
      if (f.UprobeWriteUser().available || f.UprobeWriteRegs().available) return absl::OkStatus();
      return absl::FailedPreconditionError(absl::StrCat(
          a.path, ": Set cannot run on this kernel: it writes a USDT argument into the probed process, which needs "
                  "a uprobe program that writes user memory (an argument in memory) or stores to its registers (an "
                  "argument in a register), and this kernel refuses both: ",
          f.UprobeWriteUser().reason, "; ", f.UprobeWriteRegs().reason));
    }
  }
  return absl::OkStatus();
}

}  // namespace tgd
