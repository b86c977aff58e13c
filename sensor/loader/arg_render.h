// Renders one policy-event argument (tgd_arg_val, compiled as CompiledArg)
// into tetragon.KprobeArgument exactly as Tetragon renders that type: the
// oneof member, field formats (addresses, family/type/protocol/state names,
// file permission strings, capability names and hex sets) and the label
// (not on tracepoints: Tetragon's tracepoint events carry none).
// Used for process_kprobe, process_tracepoint, process_lsm and
// process_uprobe alike (tracepoints name socket families as Tetragon's
// tracepoint events do).
#ifndef TGDISPATCH_SENSOR_LOADER_ARG_RENDER_H_
#define TGDISPATCH_SENSOR_LOADER_ARG_RENDER_H_

#include <cstdint>
#include <string>

#include "api/tetragon.pb.h"
#include "bpf/dispatch/dispatch_abi.h"
#include "sensor/loader/compile.h"
#include "sensor/loader/data_chunks.h"

namespace tgd {

// Fills `out`; returns false when Tetragon renders no argument for it
// (type nop, or a buffer whose data chunks were lost), and `out` is to be
// dropped. `data`: a buffer argument's bytes beyond the record (data
// chunks), nullptr or kInline when the record holds them all.
bool RenderArg(const CompiledArg& a, const tgd_arg_val& v, int hook_kind, tetragon::KprobeArgument* out,
               const BufferData* data = nullptr);

// Tetragon's text forms (exposed for tests).
std::string FilePermissionString(uint16_t mode);  // "-rwxr-xr-x"
std::string NetAddressString(uint16_t family, const uint8_t addr[16]);  // "" for other families

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_ARG_RENDER_H_
