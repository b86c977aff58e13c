// Compiles one hook of a TracingPolicy into the dispatcher's shared-map form:
// the policy config (arguments to read, selectors, actions) and the entries
// of the shared value sets. Pure: no kernel access (tracepoint layouts come
// through a reader), so every rule is unit-tested without root.
//
// What the dispatch loader cannot enforce yet is refused with UNIMPLEMENTED
// naming the field; nothing is silently ignored.
#ifndef TGDISPATCH_SENSOR_LOADER_COMPILE_H_
#define TGDISPATCH_SENSOR_LOADER_COMPILE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/dispatch/dispatch_abi.h"
#include "compat/policy/policy.h"
#include "sensor/loader/tracefs_format.h"

namespace tgd {

// How user space renders an argument into tetragon.KprobeArgument.
// kFile .. kNop: kernel objects and buffers (sensor/loader/arg_types.cc,
// rendered by arg_render.cc); kNop is read and not rendered (as Tetragon).
enum class ArgRender {
  kInt, kUint, kLong, kSize, kString,
  kFile, kPath, kLinuxBinprm, kSock, kSkb, kCred, kUserNs, kCapability, kBpfCmd,
  kKernelCapT, kCapInheritable, kCapPermitted, kCapEffective, kBytes, kNop, kSyscall64, kSockaddr,
  kBpfAttr, kBpfProg, kBpfMap, kPerfEvent, kModule, kLoadInfo, kSockaddrUn,
};

struct CompiledArg {
  ArgRender render = ArgRender::kLong;
  std::string label;
};

struct CompiledHook {
  // Identity of the hook: one dispatcher per distinct key.
  std::string hook_key;  // "tracepoint/syscalls/sys_enter_openat", "raw_tp/sys_enter", "kprobe/<fn>",
                         // "uprobe/<binary>:<symbol>"
  int kind = 0;          // TGD_HOOK_*
  std::string subsystem, event, call;
  std::string binary_path;  // uprobes (call is the symbol, "" for offsets and addrs)
  uint64_t offset = 0;          // uprobes: file offset to probe (symbol's when a symbol is given: libbpf adds it)
  uint64_t addr = 0;            // uprobes given by address: the loader sets `offset` from it
  uint64_t ref_ctr_offset = 0;  // uprobes: file offset of the reference counter (semaphore), 0: none
  std::string usdt_provider;    // usdts (call is the probe's name): events are process_usdt
  // Uprobes: what to attach to, "/proc/self/fd/N" of the binary opened and
  // checked by the loader (OpenUprobeTarget); empty: binary_path.
  std::string attach_path;
  std::string spec_path;    // "spec.tracepoints[0]": the policy field, for errors
  std::string message;
  std::vector<std::string> tags;

  tgd_policy_cfg cfg{};  // policy_id, gen, flags and hook_id are set by the caller
  uint32_t track_flags = 0;  // TGD_TRACK_*: process tracking the selectors need
  std::vector<CompiledArg> args;
  std::vector<tgd_int_key> ints;
  std::vector<tgd_str_key> strs;
  std::vector<tgd_lpm_key> prefixes;   // stored strings, prefixlen set
  std::vector<tgd_lpm_key> postfixes;  // reversed strings

  // Sets policy id and generation everywhere (config and value keys).
  void SetIdentity(uint32_t policy_id, uint16_t gen);
};

using TracepointFormatReader =
    std::function<absl::StatusOr<TracepointFormat>(const std::string& subsystem, const std::string& event)>;

// Inode number of the host's namespace `name` (a /proc/1/ns/ file name:
// "uts", "pid", "pid_for_children", ...), for matchNamespaces "host_ns".
using HostNamespaceReader = std::function<absl::StatusOr<uint64_t>(const std::string& name)>;

// Reads /proc/1/ns/<name>. Errors: FAILED_PRECONDITION when it is not
// readable (it needs root in the initial namespaces).
absl::StatusOr<uint64_t> ReadHostNamespace(const std::string& name);

// The refusals of a whole policy that depend neither on the kernel nor on
// the daemon's state; the loader checks them before compiling any hook, and
// `policy validate --loadable` runs the same code. Each is UNIMPLEMENTED
// "<field path>: <feature> is not supported by tgdispatch yet" (spec.lists,
// spec.enforcers, spec.options, spec.loader) or INVALID_ARGUMENT for a policy
// without hooks. SpecRefusals lists them all; CheckSpecLoadable returns the
// first (OK when there is none).
std::vector<absl::Status> SpecRefusals(const policy::TracingPolicy& policy);
absl::Status CheckSpecLoadable(const policy::TracingPolicy& policy);

// Errors: UNIMPLEMENTED (a feature this loader does not have, naming the
// field: "<field path>: <feature> is not supported by tgdispatch yet"),
// INVALID_ARGUMENT (a value or index that cannot work, naming the field),
// NOT_FOUND (unknown tracepoint), FAILED_PRECONDITION (tracefs or host_ns
// unavailable), as returned by the readers.
absl::StatusOr<CompiledHook> CompileHook(const policy::Hook& hook, const TracepointFormatReader& formats,
                                         const HostNamespaceReader& host_ns = ReadHostNamespace);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_COMPILE_H_
