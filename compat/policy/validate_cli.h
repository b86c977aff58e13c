// `tgdispatch policy validate [--json] [--loadable] FILE...`: parses each
// file with the TracingPolicy model and reports, without root or BPF:
//   OK <file> <kind> <name>                       per valid document
//   <file>:<line>:<col>: <field path>: <reason>   for an invalid file
// --json prints one JSON object {"valid": bool, "results": [...]} instead.
//
// --loadable also asks what this build cannot load of each valid document
// (a LoadChecker the binary supplies: compat/policy does not know the
// loader). A document it refuses gets, instead of its OK line,
//   <file>:<line>:<col>: <CODE>: <field path>: <reason>
// e.g. "UNIMPLEMENTED: spec.kprobes[0].return: kretprobes (return: true) is
// not supported by tgdispatch yet"; what the checker could not verify here
// (e.g. tracepoint layouts when tracefs is not readable) follows as
//   <file>:<line>:<col>: note: <field path>: <what>
// With --json each valid result gains "loadable", "problems" and "notes",
// and the object a top-level "loadable".
#ifndef TGDISPATCH_COMPAT_POLICY_VALIDATE_CLI_H_
#define TGDISPATCH_COMPAT_POLICY_VALIDATE_CLI_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "compat/policy/policy.h"

namespace tgd::policy {

// What a loader would refuse in one valid policy.
struct LoadReport {
  // Each message is "<field path>: <reason>"; the code says why
  // (UNIMPLEMENTED: a feature this build lacks; INVALID_ARGUMENT, NOT_FOUND:
  // a value, index or tracepoint the loader cannot use).
  std::vector<absl::Status> problems;
  // Each "<field path>: <what was not checked and why>".
  std::vector<std::string> notes;
};

using LoadChecker = std::function<LoadReport(const TracingPolicy&)>;

struct ValidateOptions {
  bool json = false;
  bool loadable = false;  // also run `checker` on every valid document
  LoadChecker checker;    // required when `loadable`
};

// Returns 0 when every file is valid (and, with `loadable`, every document
// loadable), 1 otherwise; unreadable files count as invalid.
int RunValidate(const std::vector<std::string>& files, const ValidateOptions& options, std::ostream& out);

// The subcommand: `args` are the words after "policy validate". `checker`
// serves --loadable (empty: the flag is refused). Returns the exit code (2 on
// a usage error, printed to `err`).
int ValidateCommand(const std::vector<std::string>& args, const LoadChecker& checker, std::ostream& out,
                    std::ostream& err);

}  // namespace tgd::policy

#endif  // TGDISPATCH_COMPAT_POLICY_VALIDATE_CLI_H_
