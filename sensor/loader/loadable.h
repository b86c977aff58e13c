// What this build's loader would refuse in a parsed TracingPolicy, without
// loading anything: the checker behind `tgdispatch policy validate
// --loadable`. It runs the loader's own pure steps (SpecRefusals, then
// CompileHook for every hook), so it reports what AddTracingPolicy would.
//
// Kernel facts are read through the given readers. When one answers that it
// cannot look here (UNAVAILABLE from the tracepoint reader: tracefs not
// readable; FAILED_PRECONDITION from the host namespace reader: /proc/1/ns
// not readable), the file does not fail: a note says what was not checked
// and the hook is checked on, against a layout made from its declared args
// (or a placeholder namespace inode).
#ifndef TGDISPATCH_SENSOR_LOADER_LOADABLE_H_
#define TGDISPATCH_SENSOR_LOADER_LOADABLE_H_

#include "compat/policy/policy.h"
#include "compat/policy/validate_cli.h"
#include "sensor/loader/compile.h"

namespace tgd {

// Every refusal (the spec-level ones, then one per hook at most), each
// "<field path>: <reason>" with the loader's status code.
policy::LoadReport CheckLoadable(const policy::TracingPolicy& policy, const TracepointFormatReader& formats,
                                 const HostNamespaceReader& host_ns);

// The checker `tgdispatch policy validate --loadable` uses: tracefs when it
// is mounted and readable (never mounting it), /proc/1/ns for host_ns.
policy::LoadChecker MachineLoadChecker();

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_LOADABLE_H_
