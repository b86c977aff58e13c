// The --loadable checker: the loader's pure steps over a whole policy, with
// notes instead of failures for what this process cannot read.
#include "sensor/loader/loadable.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "compat/policy/arg_index.h"
#include "compat/policy/lists.h"
#include "sensor/loader/ftrace_list.h"
#include "sensor/loader/tracefs_format.h"

namespace tgd {
namespace {

bool IsStringOperator(const std::string& op) {
  return op == "Prefix" || op == "NotPrefix" || op == "Postfix" || op == "NotPostfix";
}

// Go-style integer literal: optional sign, then decimal digits or 0x/0o/0b
// and digits (underscores allowed), as the loader parses values.
bool LooksLikeInteger(absl::string_view v) {
  if (!v.empty() && (v[0] == '-' || v[0] == '+')) v.remove_prefix(1);
  bool hex = absl::ConsumePrefix(&v, "0x") || absl::ConsumePrefix(&v, "0X");
  if (!hex) (void)(absl::ConsumePrefix(&v, "0o") || absl::ConsumePrefix(&v, "0b"));
  if (v.empty()) return false;
  return std::all_of(v.begin(), v.end(), [hex](char c) { return absl::ascii_isdigit(c) || c == '_' ||
                                                                (hex && absl::ascii_isxdigit(c)); });
}

// Whether the selectors treat the argument at position `pos` of args as a
// string: a string-only operator, or an Equal/NotEqual value that is not an
// integer.
bool UsedAsString(const policy::Hook& hook, int pos) {
  for (const policy::Selector& s : hook.selectors) {
    for (const policy::MatchArg& m : s.match_args) {
      if (policy::MatchArgPosition(hook, m.index) != pos) continue;
      if (IsStringOperator(m.op)) return true;
      if (m.op == "Equal" || m.op == "NotEqual") {
        for (const std::string& v : m.values) {
          if (!LooksLikeInteger(v)) return true;
        }
      }
    }
  }
  return false;
}

// A stand-in record layout for a tracepoint whose format cannot be read:
// every declared index exists, with a field of the declared type (`auto`:
// a string when the selectors use it as one, else a 64-bit integer).
TracepointFormat DeclaredLayout(const policy::Hook& hook) {
  int last = -1;
  for (const policy::ArgSpec& a : hook.args) last = std::max({last, a.index, a.size_arg_index - 1});
  TracepointFormat f;
  f.name = hook.event;
  for (int i = 0; i <= last; ++i) {
    f.fields.push_back({"long", absl::StrCat("field", i), static_cast<uint32_t>(8 * i), 8, true});
  }
  for (size_t pos = 0; pos < hook.args.size(); ++pos) {
    const policy::ArgSpec& a = hook.args[pos];
    if (a.index < 0) continue;
    TracepointField& field = f.fields[a.index];
    bool is_string = a.type == "string" || (a.type == "auto" && UsedAsString(hook, static_cast<int>(pos)));
    if (a.type == "data_loc") {
      field.type = "__data_loc char[]";
      field.size = 4;
    } else if (is_string) {
      field.type = "const char *";
    }
  }
  return f;
}

// The loader's message, with the hook's path in front when the reader's
// message names none (e.g. NOT_FOUND for an unknown tracepoint).
absl::Status AtHook(const policy::Hook& hook, const absl::Status& s) {
  if (absl::StartsWith(s.message(), "spec")) return s;
  return absl::Status(s.code(), absl::StrCat(hook.path, ": ", s.message()));
}

}  // namespace

policy::LoadReport CheckLoadable(const policy::TracingPolicy& policy, const TracepointFormatReader& formats,
                                 const HostNamespaceReader& host_ns) {
  policy::LoadReport report;
  report.problems = SpecRefusals(policy);
  // Hooks over a list (call: "list:NAME"), expanded as the loader does; a
  // generated_ftrace list this process cannot read is a note.
  std::vector<std::string> list_notes;
  policy::FtraceListReader ftrace = [&](const policy::ListSpec& l) -> absl::StatusOr<std::vector<std::string>> {
    absl::StatusOr<std::vector<std::string>> funcs = ReadFtraceList(l);
    if (funcs.ok() || funcs.status().code() != absl::StatusCode::kUnavailable) return funcs;
    list_notes.push_back(absl::StrCat(l.path, ": the functions of generated_ftrace list \"", l.name,
                                      "\" were not read (", funcs.status().message(), ")"));
    return std::vector<std::string>{};
  };
  absl::StatusOr<std::vector<policy::Hook>> hooks = policy::ExpandHookLists(policy, ftrace);
  for (std::string& n : list_notes) report.notes.push_back(std::move(n));
  if (!hooks.ok()) {
    report.problems.push_back(hooks.status());
    return report;
  }
  for (const policy::Hook& hook : *hooks) {
    std::vector<std::string> notes;
    TracepointFormatReader layout = [&](const std::string& subsystem,
                                        const std::string& event) -> absl::StatusOr<TracepointFormat> {
      absl::StatusOr<TracepointFormat> f = formats(subsystem, event);
      if (f.ok() || f.status().code() != absl::StatusCode::kUnavailable) return f;
      notes.push_back(absl::StrCat(hook.path, ": the layout of tracepoint ", subsystem, "/", event,
                                   " was not checked (", f.status().message(),
                                   "); its args were checked against their declared types only"));
      return DeclaredLayout(hook);
    };
    HostNamespaceReader ns = [&](const std::string& name) -> absl::StatusOr<uint64_t> {
      absl::StatusOr<uint64_t> inum = host_ns(name);
      if (inum.ok() || inum.status().code() != absl::StatusCode::kFailedPrecondition) return inum;
      std::string note = absl::StrCat(hook.path, ": host_ns of the ", name, " namespace was not resolved (",
                                      inum.status().message(), ")");
      if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(std::move(note));
      return 0;
    };
    absl::StatusOr<CompiledHook> c = CompileHook(hook, layout, ns);
    if (c.ok() && c->ret_role == CompiledHook::kRetEntry) {  // its return side too
      absl::StatusOr<CompiledHook> r = CompileReturnHook(hook, *c, layout, ns);
      if (!r.ok()) c = r.status();
    }
    if (!c.ok()) {
      absl::Status problem = AtHook(hook, c.status());
      // Hooks expanded from one list share their path: report a problem once.
      if (std::find(report.problems.begin(), report.problems.end(), problem) == report.problems.end()) {
        report.problems.push_back(std::move(problem));
      }
    }
    for (std::string& n : notes) report.notes.push_back(std::move(n));
  }
  return report;
}

policy::LoadChecker MachineLoadChecker() {
  return [](const policy::TracingPolicy& p) {
    return CheckLoadable(p, ReadMountedTracepointFormat, ReadHostNamespace);
  };
}

}  // namespace tgd
