// The Tetragon TracingPolicy model (cilium.io/v1alpha1 TracingPolicy and
// TracingPolicyNamespaced): what a policy document says, checked the way
// Tetragon's CRD schema and its sensors check it, with every field's path and
// source position kept for error messages. Nothing here touches the kernel.
//
// Parsing is strict: unknown fields are errors (Tetragon's CRD is
// structural), CRD defaults are applied (e.g. kprobes default to
// `syscall: true`, args to `type: auto`, capabilities to `type: Effective`),
// and semantic checks follow Tetragon's selector compiler (operator vs
// argument type, declared indices, values that parse for their type, action
// parameters, per-selector limits). See compat/policy/README.md.
#ifndef TGDISPATCH_COMPAT_POLICY_POLICY_H_
#define TGDISPATCH_COMPAT_POLICY_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "compat/labels/label_selector.h"

namespace tgd::policy {

inline constexpr size_t kMaxPolicyBytes = 1 << 20;  // 1 MiB per document
inline constexpr size_t kMaxSelectors = 5;          // per hook (MaxSelectors)
inline constexpr size_t kMaxMatchArgs = 5;          // matchArgs + matchData per selector
inline constexpr size_t kMaxActions = 3;            // per matchActions / matchReturnActions
inline constexpr size_t kMaxMatchValues = 4;        // integer values outside InMap/NotInMap
inline constexpr size_t kMaxNamespaceFilters = 10;  // matchNamespaces entries per selector
inline constexpr size_t kMaxNamespaceValues = 4;    // values per matchNamespaces entry
inline constexpr size_t kMaxTags = 16;
inline constexpr size_t kMaxMessageLen = 256;       // longer messages are truncated (as upstream)

// Source position, 1-based; 0 = unknown.
struct Pos {
  int line = 0;
  int column = 0;

  bool operator==(const Pos&) const = default;
};

// One entry of `args` (or `returnArg`).
struct ArgSpec {
  int index = 0;
  std::string type = "auto";   // one of the CRD's enum values
  int size_arg_index = 0;      // char_buf/char_iovec: 1-based index of the size arg (0 = none)
  bool return_copy = false;
  bool max_data = false;       // upstream: bool
  std::string label;
  std::string resolve;
  std::string source;          // kprobes: where the value comes from ("" = the function argument)
  std::string btf_type;        // resolve's initial type (kernel BTF; uprobes/usdts: the hook's btfPath)
  std::string btf_type_module; // kernel module holding btf_type
  Pos pos;
  std::string path;            // "spec.kprobes[0].args[1]"

  bool operator==(const ArgSpec&) const = default;
};

// matchArgs / matchReturnArgs / matchData entry.
struct MatchArg {
  int index = 0;
  std::string op;                    // canonical operator name (e.g. "GT" for "GreaterThan")
  std::vector<std::string> values;
  std::vector<uint32_t> args;        // `args`: positions in the args list (CapabilitiesGained)
  std::vector<uint32_t> list_ids;    // InMap/NotInMap: the "list:NAME" values' syscall ids (derived)
  Pos pos;
  std::string path;                  // "spec.tracepoints[0].selectors[1].matchArgs[0]"

  bool operator==(const MatchArg&) const = default;
};

struct MatchBinaries {
  std::string op;                    // In NotIn Prefix NotPrefix Postfix NotPostfix
  std::vector<std::string> values;
  bool follow_children = false;
  Pos pos;
  std::string path;

  bool operator==(const MatchBinaries&) const = default;
};

struct MatchPIDs {
  std::string op;                    // In NotIn
  std::vector<uint32_t> values;
  bool follow_forks = false;
  bool is_namespace_pid = false;
  Pos pos;
  std::string path;

  bool operator==(const MatchPIDs&) const = default;
};

struct MatchNamespaces {
  std::string ns;                    // Uts Ipc Mnt Pid PidForChildren Net Time TimeForChildren Cgroup User
  std::string op;                    // In NotIn
  std::vector<std::string> values;   // inode numbers or "host_ns"
  Pos pos;
  std::string path;

  bool operator==(const MatchNamespaces&) const = default;
};

struct MatchNamespaceChanges {
  std::string op;                    // In NotIn
  std::vector<std::string> values;   // namespace types
  Pos pos;
  std::string path;

  bool operator==(const MatchNamespaceChanges&) const = default;
};

struct MatchCapabilities {
  std::string type = "Effective";    // Effective Inheritable Permitted
  std::string op;                    // In NotIn
  bool is_namespace_capability = false;
  std::vector<std::string> values;   // CapabilitiesType enum names: CAP_SYS_ADMIN, DAC_OVERRIDE, ...
  Pos pos;
  std::string path;

  bool operator==(const MatchCapabilities&) const = default;
};

struct MatchAction {
  std::string action;                // canonical spelling, e.g. "Sigkill", "FollowFD"
  int32_t arg_error = 0;
  uint32_t arg_sig = 0;
  uint32_t arg_fd = 0;
  uint32_t arg_name = 0;
  uint32_t arg_sock = 0;
  uint32_t arg_index = 0;            // Set
  uint32_t arg_value = 0;            // Set
  std::vector<std::string> arg_regs; // Override on uprobes: "reg=value" register assignments
  std::string arg_new_symbol;        // Override on uprobes: jump to this symbol instead
  uint64_t arg_new_addr = 0;         //   ... or this address
  int64_t arg_new_offset = 0;        //   ... or this offset
  std::string arg_url, arg_fqdn;
  std::string rate_limit;            // as written ("5", "1m", "2h")
  uint32_t rate_limit_ms = 0;        // parsed, capped at 2^32-1 as upstream
  std::string rate_limit_scope;      // thread (default) | process | global
  bool kernel_stack_trace = false, user_stack_trace = false, ima_hash = false;
  Pos pos;
  std::string path;

  bool operator==(const MatchAction&) const = default;
};

// matchWorkloads: the workloads one selector applies to (per-selector
// podSelector / containerSelector / hostSelector).
struct MatchWorkloads {
  std::optional<labels::LabelSelector> pod_selector, container_selector, host_selector;
  Pos pos;
  std::string path;

  bool operator==(const MatchWorkloads&) const = default;
};

// A selector after spec.selectorsMacros are expanded into it (as Tetragon
// does before loading): the macro names are not kept.
struct Selector {
  std::string label;                 // status and metrics label
  std::optional<MatchWorkloads> match_workloads;
  std::vector<MatchArg> match_args, match_return_args, match_data;
  std::vector<MatchPIDs> match_pids;
  std::vector<MatchBinaries> match_binaries, match_parent_binaries;
  std::vector<MatchNamespaces> match_namespaces;
  std::vector<MatchNamespaceChanges> match_namespace_changes;
  std::vector<MatchCapabilities> match_capabilities;
  std::vector<MatchCapabilities> match_capability_changes;
  std::vector<MatchAction> match_actions, match_return_actions;
  Pos pos;
  std::string path;                  // "spec.kprobes[0].selectors[1]"

  bool operator==(const Selector&) const = default;
};

enum class HookKind { kKprobe, kTracepoint, kRawTracepoint, kLsm, kUprobe, kUsdt, kFentry };
const char* HookKindName(HookKind kind);  // "kprobe", "tracepoint", ...

// One entry of spec.kprobes / tracepoints / lsmhooks / uprobes / usdts /
// fentries (same fields as kprobes).
struct Hook {
  HookKind kind = HookKind::kKprobe;
  std::string path;                  // "spec.tracepoints[0]"
  Pos pos;
  std::string call;                  // kprobe call / lsm hook name / first uprobe symbol / usdt name
  bool syscall = false, is_return = false;
  std::string subsystem, event;      // tracepoints (raw tracepoints: event is the raw tp name)
  std::string binary_path;           // uprobes/usdts
  std::vector<std::string> symbols;  // uprobes: all symbols
  std::vector<uint64_t> offsets, ref_ctr_offsets;  // uprobes
  std::vector<uint64_t> addrs;       // uprobes: absolute addresses
  std::string btf_path;              // uprobes/usdts: BTF file for args' btfType
  std::vector<std::string> binary_digests;         // uprobes: attach only to a binary with one of these digests
  bool ignore_digest_verification_failure = false; // uprobes: ignore.digestVerificationFailure
  std::vector<ArgSpec> data;         // kprobes/uprobes: `data` (read by matchData)
  std::string provider;              // usdts
  std::vector<ArgSpec> args;
  std::optional<ArgSpec> return_arg;
  std::string return_arg_action;     // "", Post, TrackSock, UntrackSock
  std::vector<Selector> selectors;
  std::string message;               // truncated to kMaxMessageLen
  std::vector<std::string> tags;
  bool ignore_call_not_found = false;  // kprobes: ignore.callNotFound

  bool operator==(const Hook&) const = default;
};

struct ListSpec {
  std::string name;
  std::vector<std::string> values;
  std::string type;                  // "", syscalls, generated_syscalls, generated_ftrace
  std::optional<std::string> pattern;
  bool validated = false;
  Pos pos;
  std::string path;

  bool operator==(const ListSpec&) const = default;
};

struct EnforcerSpec {
  std::vector<std::string> calls;
  Pos pos;
  std::string path;

  bool operator==(const EnforcerSpec&) const = default;
};

struct TracingPolicy {
  std::string api_version, kind, name, namespace_;  // kind: TracingPolicy | TracingPolicyNamespaced
  std::vector<std::pair<std::string, std::string>> labels, annotations;  // metadata
  std::optional<labels::LabelSelector> pod_selector, host_selector;
  std::optional<labels::LabelSelector> container_selector;  // keys: "name" only (as upstream)
  std::optional<labels::LabelSelector> node_selector;       // nodes the policy loads on
  std::vector<Hook> hooks;           // kprobes, tracepoints, lsmhooks, uprobes, usdts, fentries, each in document order
  std::vector<ListSpec> lists;
  std::vector<EnforcerSpec> enforcers;
  std::vector<std::pair<std::string, std::string>> options;
  bool loader = false;
  Pos pos;                           // of the document

  bool namespaced() const { return kind == "TracingPolicyNamespaced"; }

  bool operator==(const TracingPolicy&) const = default;
};

// Every model struct compares field by field (operator== above), source
// positions included: clear them to compare models of different texts.

// Parses every YAML document in `yaml` ("---" separated; empty documents are
// skipped). Errors: INVALID_ARGUMENT "line L col C: <field path>: <reason>"
// for the first problem found; the same (namespace, name) twice in one input
// is an error.
absl::StatusOr<std::vector<TracingPolicy>> ParsePolicies(std::string_view yaml);

// Exactly one document. Errors: INVALID_ARGUMENT as above, also when there is
// not exactly one document.
absl::StatusOr<TracingPolicy> ParsePolicy(std::string_view yaml);

// Canonical YAML of a parsed policy: every field spelled as the CRD does,
// defaults written out, operators and actions in canonical spelling. Parsing
// the result gives the same model (minus source positions).
std::string ToCanonicalYaml(const TracingPolicy& policy);

}  // namespace tgd::policy

#endif  // TGDISPATCH_COMPAT_POLICY_POLICY_H_
