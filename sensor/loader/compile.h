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
#include "compat/labels/label_selector.h"
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
  bool data = false;  // a `data` entry: rendered in the event's data, not its args
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
  // Return probes (return: true or a returnCopy argument): the entry hook
  // and the return hook are two compiled hooks, paired by the loader.
  static constexpr int kRetEntry = 1, kRetReturn = 2;
  int ret_role = 0;         // 0, kRetEntry, kRetReturn
  bool retprobe = false;    // attach as a kretprobe / uretprobe
  // Return side: where its event's values go in the merged event
  // (positions in `args`, -1: none). The returnArg becomes the event's
  // `return` (kprobes) or its last argument (uprobes, as Tetragon); the
  // returnCopy argument replaces the entry's argument at copy_entry_pos.
  int ret_arg_pos = -1, copy_pos = -1, copy_entry_pos = -1;
  std::string message;
  std::vector<std::string> tags;

  tgd_policy_cfg cfg{};  // policy_id, gen, flags and hook_id are set by the caller
  uint32_t track_flags = 0;  // TGD_TRACK_*: process tracking the selectors need
  std::vector<CompiledArg> args;
  std::vector<tgd_int_key> ints;
  std::vector<tgd_str_key> strs;
  std::vector<tgd_lpm_key> prefixes;   // stored strings, prefixlen set
  std::vector<tgd_lpm_key> postfixes;  // reversed strings
  // GetUrl / DnsLookup actions, done by user space when an event of
  // selector `sel` is posted (argUrl / argFqdn).
  struct UserAction {
    int sel = 0;
    int kind = 0;  // TGD_ACT_GETURL or TGD_ACT_DNSLOOKUP
    std::string arg;
  };
  std::vector<UserAction> user_actions;
  // matchBinaries followChildren of selector `sel`: the loader gives it a
  // bit (cfg.sel[sel].bin_follow) and files its paths in tgd_follow_paths.
  struct FollowChildren {
    int sel = 0;
    std::vector<std::string> paths;
  };
  std::vector<FollowChildren> follow_children;
  // LSM hooks: the selectors (bit per index) whose Post has imaHash.
  uint32_t ima_hash_sels = 0;

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
// `node_labels`: this node's labels (--node-labels) for nodeSelector, if
// known (schema_refusals.h AppendNewerSpecRefusals).
std::vector<absl::Status> SpecRefusals(const policy::TracingPolicy& policy,
                                       const labels::Labels* node_labels = nullptr);
absl::Status CheckSpecLoadable(const policy::TracingPolicy& policy, const labels::Labels* node_labels = nullptr);

// Errors: UNIMPLEMENTED (a feature this loader does not have, naming the
// field: "<field path>: <feature> is not supported by tgdispatch yet"),
// INVALID_ARGUMENT (a value or index that cannot work, naming the field),
// NOT_FOUND (unknown tracepoint), FAILED_PRECONDITION (tracefs or host_ns
// unavailable), as returned by the readers.
absl::StatusOr<CompiledHook> CompileHook(const policy::Hook& hook, const TracepointFormatReader& formats,
                                         const HostNamespaceReader& host_ns = ReadHostNamespace);

// Whether a hook has a return side (return: true, or an argument with
// returnCopy).
bool HasReturnSide(const policy::Hook& hook);

// The return side of a hook whose entry side CompileHook compiled into
// `entry` (HasReturnSide): its returnArg read from the return value, the
// selectors' matchReturnArgs and matchReturnActions, and the returnCopy
// argument filled from the pointer kept at entry. Errors as CompileHook.
absl::StatusOr<CompiledHook> CompileReturnHook(const policy::Hook& hook, const CompiledHook& entry,
                                               const TracepointFormatReader& formats,
                                               const HostNamespaceReader& host_ns = ReadHostNamespace);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_COMPILE_H_
