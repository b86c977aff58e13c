// `tgdispatch policy validate [--json] FILE...`: parses each file with the
// TracingPolicy model and reports, without root or BPF:
//   OK <file> <kind> <name>                       per valid document
//   <file>:<line>:<col>: <field path>: <reason>   for an invalid file
// --json prints one JSON object {"valid": bool, "results": [...]} instead.
#ifndef TGDISPATCH_COMPAT_POLICY_VALIDATE_CLI_H_
#define TGDISPATCH_COMPAT_POLICY_VALIDATE_CLI_H_

#include <ostream>
#include <string>
#include <vector>

namespace tgd::policy {

// Returns 0 when every file is valid, 1 otherwise (unreadable files count as
// invalid).
int RunValidate(const std::vector<std::string>& files, bool json, std::ostream& out);

// The subcommand: `args` are the words after "policy validate". Returns the
// exit code (2 on a usage error, printed to `err`).
int ValidateCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tgd::policy

#endif  // TGDISPATCH_COMPAT_POLICY_VALIDATE_CLI_H_
