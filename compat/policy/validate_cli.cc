// `policy validate` output, text and JSON.
#include "compat/policy/validate_cli.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "compat/policy/policy.h"

namespace tgd::policy {
namespace {

// One line of a loadability report: a problem (code set) or a note.
struct Finding {
  std::string code;  // "UNIMPLEMENTED", ...; empty for a note
  Pos pos;
  std::string path, reason;
};

struct Result {
  std::string file;
  bool ok = false;
  std::string kind, name, ns;            // ok
  int line = 0, column = 0;              // !ok, 0 = unknown
  std::string path, reason;              // !ok
  bool checked = false;                  // ok and --loadable
  std::vector<Finding> problems, notes;  // checked

  bool loadable() const { return problems.empty(); }
};

// Splits "line L col C: <path>: <reason>" (or "<path>: <reason>").
void SplitError(const std::string& msg, Result* r) {
  std::string rest = msg;
  int line = 0, col = 0;
  if (sscanf(msg.c_str(), "line %d col %d: ", &line, &col) == 2) {
    size_t p = msg.find(": ");
    rest = msg.substr(p + 2);
    r->line = line;
    r->column = col;
  }
  size_t sep = rest.find(": ");
  if (sep == std::string::npos) {
    r->reason = rest;
  } else {
    r->path = rest.substr(0, sep);
    r->reason = rest.substr(sep + 2);
  }
}

// "<path>: <reason>" split at the first ": " (no path when there is none).
void SplitPath(absl::string_view msg, std::string* path, std::string* reason) {
  size_t sep = msg.find(": ");
  if (sep == absl::string_view::npos || !absl::StartsWith(msg, "spec")) {
    *reason = std::string(msg);
    return;
  }
  *path = std::string(msg.substr(0, sep));
  *reason = std::string(msg.substr(sep + 2));
}

// Source position of the deepest model element whose path is `path` or a
// prefix of it ("spec.kprobes[0].selectors[1]" for
// "spec.kprobes[0].selectors[1].matchActions[0].rateLimit"); the document's
// position when none is.
class PositionIndex {
 public:
  explicit PositionIndex(const TracingPolicy& p) : doc_(p.pos) {
    for (const ListSpec& l : p.lists) Add(l.path, l.pos);
    for (const EnforcerSpec& e : p.enforcers) Add(e.path, e.pos);
    for (const Hook& h : p.hooks) {
      Add(h.path, h.pos);
      for (const ArgSpec& a : h.args) Add(a.path, a.pos);
      if (h.return_arg) Add(h.return_arg->path, h.return_arg->pos);
      for (const Selector& s : h.selectors) {
        Add(s.path, s.pos);
        for (const auto* v : {&s.match_args, &s.match_return_args, &s.match_data}) AddAll(*v);
        for (const auto* v : {&s.match_binaries, &s.match_parent_binaries}) AddAll(*v);
        for (const auto* v : {&s.match_capabilities, &s.match_capability_changes}) AddAll(*v);
        for (const auto* v : {&s.match_actions, &s.match_return_actions}) AddAll(*v);
        AddAll(s.match_pids);
        AddAll(s.match_namespaces);
        AddAll(s.match_namespace_changes);
      }
    }
  }

  Pos Find(const std::string& path) const {
    Pos best = doc_;
    size_t best_len = 0;
    for (const auto& [p, pos] : entries_) {
      if (p.size() <= best_len || !absl::StartsWith(path, p)) continue;
      if (path.size() > p.size() && path[p.size()] != '.' && path[p.size()] != '[') continue;
      best = pos;
      best_len = p.size();
    }
    return best;
  }

 private:
  void Add(const std::string& path, Pos pos) {
    if (!path.empty() && pos.line > 0) entries_.emplace_back(path, pos);
  }
  template <typename T>
  void AddAll(const std::vector<T>& v) {
    for (const T& x : v) Add(x.path, x.pos);
  }

  Pos doc_;
  std::vector<std::pair<std::string, Pos>> entries_;
};

void CheckLoadable(const TracingPolicy& p, const LoadChecker& checker, Result* r) {
  LoadReport report = checker(p);
  PositionIndex index(p);
  r->checked = true;
  for (const absl::Status& s : report.problems) {
    Finding f;
    f.code = absl::StatusCodeToString(s.code());
    SplitPath(s.message(), &f.path, &f.reason);
    f.pos = index.Find(f.path);
    r->problems.push_back(std::move(f));
  }
  for (const std::string& n : report.notes) {
    Finding f;
    SplitPath(n, &f.path, &f.reason);
    f.pos = index.Find(f.path);
    r->notes.push_back(std::move(f));
  }
}

std::string JsonString(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      case '\r': o += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          o += buf;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

std::vector<Result> ValidateFile(const std::string& file, const ValidateOptions& options) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    Result r{file};
    r.reason = "cannot read the file";
    return {r};
  }
  std::string data;
  data.resize(kMaxPolicyBytes + 1);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  auto parsed = ParsePolicies(data);
  if (!parsed.ok()) {
    Result r{file};
    SplitError(std::string(parsed.status().message()), &r);
    return {r};
  }
  std::vector<Result> out;
  for (const TracingPolicy& p : *parsed) {
    Result r{file};
    r.ok = true;
    r.kind = p.kind;
    r.name = p.name;
    r.ns = p.namespace_;
    if (options.loadable && options.checker) CheckLoadable(p, options.checker, &r);
    out.push_back(r);
  }
  if (out.empty()) {
    Result r{file};
    r.reason = "no policy documents";
    out.push_back(r);
  }
  return out;
}

void PrintFindingText(const std::string& file, const Finding& f, std::ostream& out) {
  out << file << ":";
  if (f.pos.line > 0) out << f.pos.line << ":" << f.pos.column << ":";
  out << " " << (f.code.empty() ? "note" : f.code) << ": ";
  if (!f.path.empty()) out << f.path << ": ";
  out << f.reason << "\n";
}

void PrintFindingsJson(const char* key, const std::vector<Finding>& v, std::ostream& out) {
  out << ", \"" << key << "\": [";
  for (size_t i = 0; i < v.size(); ++i) {
    const Finding& f = v[i];
    out << (i ? ", " : "") << "{";
    if (!f.code.empty()) out << "\"code\": " << JsonString(f.code) << ", ";
    out << "\"line\": " << f.pos.line << ", \"column\": " << f.pos.column << ", \"path\": " << JsonString(f.path)
        << ", \"reason\": " << JsonString(f.reason) << "}";
  }
  out << "]";
}

constexpr char kUsage[] = "usage: tgdispatch policy validate [--json] [--loadable] FILE...\n";

}  // namespace

int RunValidate(const std::vector<std::string>& files, const ValidateOptions& options, std::ostream& out) {
  std::vector<Result> all;
  for (const std::string& f : files) {
    for (Result& r : ValidateFile(f, options)) all.push_back(std::move(r));
  }
  bool valid = true, loadable = true;
  for (const Result& r : all) {
    valid = valid && r.ok;
    loadable = loadable && r.ok && r.loadable();
  }
  const int code = valid && (!options.loadable || loadable) ? 0 : 1;
  if (!options.json) {
    for (const Result& r : all) {
      if (r.ok) {
        if (r.loadable()) out << "OK " << r.file << " " << r.kind << " " << r.name << "\n";
        for (const Finding& f : r.problems) PrintFindingText(r.file, f, out);
        for (const Finding& f : r.notes) PrintFindingText(r.file, f, out);
      } else {
        out << r.file << ":";
        if (r.line > 0) out << r.line << ":" << r.column << ":";
        out << " ";
        if (!r.path.empty()) out << r.path << ": ";
        out << r.reason << "\n";
      }
    }
    return code;
  }
  out << "{\"valid\": " << (valid ? "true" : "false");
  if (options.loadable) out << ", \"loadable\": " << (loadable ? "true" : "false");
  out << ", \"results\": [";
  for (size_t i = 0; i < all.size(); ++i) {
    const Result& r = all[i];
    out << (i ? ",\n  " : "\n  ") << "{\"file\": " << JsonString(r.file) << ", \"ok\": " << (r.ok ? "true" : "false");
    if (r.ok) {
      out << ", \"kind\": " << JsonString(r.kind) << ", \"name\": " << JsonString(r.name);
      if (!r.ns.empty()) out << ", \"namespace\": " << JsonString(r.ns);
      if (r.checked) {
        out << ", \"loadable\": " << (r.loadable() ? "true" : "false");
        PrintFindingsJson("problems", r.problems, out);
        PrintFindingsJson("notes", r.notes, out);
      }
    } else {
      out << ", \"line\": " << r.line << ", \"column\": " << r.column << ", \"path\": " << JsonString(r.path)
          << ", \"reason\": " << JsonString(r.reason);
    }
    out << "}";
  }
  out << (all.empty() ? "]}\n" : "\n]}\n");
  return code;
}

int ValidateCommand(const std::vector<std::string>& args, const LoadChecker& checker, std::ostream& out,
                    std::ostream& err) {
  ValidateOptions options;
  options.checker = checker;
  std::vector<std::string> files;
  bool end_of_flags = false;
  for (const std::string& a : args) {
    if (!end_of_flags && a == "--") {
      end_of_flags = true;
    } else if (!end_of_flags && a == "--json") {
      options.json = true;
    } else if (!end_of_flags && a == "--loadable") {
      if (!checker) {
        err << "policy validate: --loadable is not available in this build\n" << kUsage;
        return 2;
      }
      options.loadable = true;
    } else if (!end_of_flags && (a == "--help" || a == "-h")) {
      out << kUsage;
      return 0;
    } else if (!end_of_flags && a.size() > 1 && a[0] == '-') {
      err << "policy validate: unknown flag \"" << a << "\"\n" << kUsage;
      return 2;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    err << "policy validate: no files given\n" << kUsage;
    return 2;
  }
  return RunValidate(files, options, out);
}

}  // namespace tgd::policy
