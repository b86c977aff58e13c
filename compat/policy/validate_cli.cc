// `policy validate` output, text and JSON.
#include "compat/policy/validate_cli.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "compat/policy/policy.h"

namespace tgd::policy {
namespace {

struct Result {
  std::string file;
  bool ok = false;
  std::string kind, name, ns;            // ok
  int line = 0, column = 0;              // !ok, 0 = unknown
  std::string path, reason;              // !ok
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

std::vector<Result> ValidateFile(const std::string& file) {
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
    out.push_back(r);
  }
  if (out.empty()) {
    Result r{file};
    r.reason = "no policy documents";
    out.push_back(r);
  }
  return out;
}

}  // namespace

int RunValidate(const std::vector<std::string>& files, bool json, std::ostream& out) {
  std::vector<Result> all;
  for (const std::string& f : files) {
    for (Result& r : ValidateFile(f)) all.push_back(std::move(r));
  }
  bool valid = true;
  for (const Result& r : all) valid = valid && r.ok;
  if (!json) {
    for (const Result& r : all) {
      if (r.ok) {
        out << "OK " << r.file << " " << r.kind << " " << r.name << "\n";
      } else {
        out << r.file << ":";
        if (r.line > 0) out << r.line << ":" << r.column << ":";
        out << " ";
        if (!r.path.empty()) out << r.path << ": ";
        out << r.reason << "\n";
      }
    }
    return valid ? 0 : 1;
  }
  out << "{\"valid\": " << (valid ? "true" : "false") << ", \"results\": [";
  for (size_t i = 0; i < all.size(); ++i) {
    const Result& r = all[i];
    out << (i ? ",\n  " : "\n  ") << "{\"file\": " << JsonString(r.file) << ", \"ok\": " << (r.ok ? "true" : "false");
    if (r.ok) {
      out << ", \"kind\": " << JsonString(r.kind) << ", \"name\": " << JsonString(r.name);
      if (!r.ns.empty()) out << ", \"namespace\": " << JsonString(r.ns);
    } else {
      out << ", \"line\": " << r.line << ", \"column\": " << r.column << ", \"path\": " << JsonString(r.path)
          << ", \"reason\": " << JsonString(r.reason);
    }
    out << "}";
  }
  out << (all.empty() ? "]}\n" : "\n]}\n");
  return valid ? 0 : 1;
}

int ValidateCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  bool json = false;
  std::vector<std::string> files;
  bool end_of_flags = false;
  for (const std::string& a : args) {
    if (!end_of_flags && a == "--") {
      end_of_flags = true;
    } else if (!end_of_flags && a == "--json") {
      json = true;
    } else if (!end_of_flags && (a == "--help" || a == "-h")) {
      out << "usage: tgdispatch policy validate [--json] FILE...\n";
      return 0;
    } else if (!end_of_flags && a.size() > 1 && a[0] == '-') {
      err << "policy validate: unknown flag \"" << a << "\"\nusage: tgdispatch policy validate [--json] FILE...\n";
      return 2;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    err << "policy validate: no files given\nusage: tgdispatch policy validate [--json] FILE...\n";
    return 2;
  }
  return RunValidate(files, json, out);
}

}  // namespace tgd::policy
