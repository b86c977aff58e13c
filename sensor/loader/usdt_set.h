// Set on usdts (Tetragon writes argValue, 4 bytes, into the probed process
// where the note puts USDT argument argIndex): what the kernel must allow a
// uprobe program for it, checked against the kernel's own answer
// (KernelFeatures::UprobeWriteUser / UprobeWriteRegs).
#ifndef TGDISPATCH_SENSOR_LOADER_USDT_SET_H_
#define TGDISPATCH_SENSOR_LOADER_USDT_SET_H_

#include "absl/status/status.h"
#include "compat/policy/policy.h"
#include "sensor/loader/features.h"

namespace tgd {

// OK when `hook` has no Set action or the kernel accepts a uprobe program
// that writes the process's memory or registers. Otherwise
// FAILED_PRECONDITION naming the first Set action's path, with the kernel's
// reasons for both.
absl::Status CheckUsdtSetSupported(const KernelFeatures& f, const policy::Hook& hook);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_USDT_SET_H_
