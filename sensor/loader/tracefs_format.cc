// Parsing of tracefs event `format` files and reading them from tracefs.
#include "sensor/loader/tracefs_format.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sensor/base/status_macros.h"
#include "sensor/bpfcore/fs.h"

namespace tgd {
namespace {

// Parses "field:<type> <name>;\toffset:N;\tsize:N;\tsigned:N;".
absl::StatusOr<TracepointField> ParseField(absl::string_view line, int line_no) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("format line ", line_no, ": ", why));
  };
  TracepointField f;
  bool have_offset = false, have_size = false;
  for (absl::string_view part : absl::StrSplit(line, ';', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, "field:")) {
      // The name is the last word; an array suffix belongs to the type.
      std::string decl(part);
      size_t bracket = decl.find('[');
      std::string suffix;
      if (bracket != std::string::npos && !absl::StartsWith(decl, "__data_loc")) {
        suffix = decl.substr(bracket);
        decl = decl.substr(0, bracket);
      }
      size_t sp = decl.find_last_of(" *");
      if (sp == std::string::npos) return bad("field without a name");
      f.name = decl.substr(sp + 1);
      f.type = std::string(absl::StripAsciiWhitespace(decl.substr(0, sp + 1))) + suffix;
    } else if (absl::ConsumePrefix(&part, "offset:")) {
      if (!absl::SimpleAtoi(part, &f.offset)) return bad("bad offset");
      have_offset = true;
    } else if (absl::ConsumePrefix(&part, "size:")) {
      if (!absl::SimpleAtoi(part, &f.size)) return bad("bad size");
      have_size = true;
    } else if (absl::ConsumePrefix(&part, "signed:")) {
      f.is_signed = part == "1";
    }
  }
  if (f.name.empty() || !have_offset || !have_size) return bad("incomplete field");
  return f;
}

}  // namespace

absl::StatusOr<TracepointFormat> ParseTracepointFormat(absl::string_view text) {
  TracepointFormat out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&l, "name:")) {
      out.name = std::string(absl::StripAsciiWhitespace(l));
    } else if (absl::ConsumePrefix(&l, "ID:")) {
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(l), &out.id);
    } else if (absl::StartsWith(l, "field:")) {
      TGD_ASSIGN_OR_RETURN(TracepointField f, ParseField(l, line_no));
      out.fields.push_back(std::move(f));
    }
  }
  if (out.fields.empty()) return absl::InvalidArgumentError("format has no fields");
  return out;
}

namespace {

absl::Status CheckTracepointName(const std::string& subsystem, const std::string& event) {
  for (const std::string* s : {&subsystem, &event}) {
    if (s->empty() || s->find('/') != std::string::npos || *s == "." || *s == "..") {
      return absl::InvalidArgumentError(absl::StrCat("bad tracepoint name \"", *s, "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TracepointFormat> ReadFormatUnder(const std::string& tracefs, const std::string& subsystem,
                                                 const std::string& event) {
  std::string path = absl::StrCat(tracefs, "/events/", subsystem, "/", event, "/format");
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("tracepoint ", subsystem, "/", event, " does not exist on this kernel (no ", path, ")"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseTracepointFormat(ss.str());
}

}  // namespace

absl::StatusOr<TracepointFormat> ReadTracepointFormat(const std::string& subsystem,
                                                      const std::string& event) {
  TGD_RETURN_IF_ERROR(CheckTracepointName(subsystem, event));
  absl::StatusOr<std::string> tracefs = EnsureTracefs();
  if (!tracefs.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("tracefs is not available: ", tracefs.status().message()));
  }
  return ReadFormatUnder(*tracefs, subsystem, event);
}

absl::StatusOr<TracepointFormat> ReadMountedTracepointFormat(const std::string& subsystem,
                                                             const std::string& event) {
  TGD_RETURN_IF_ERROR(CheckTracepointName(subsystem, event));
  absl::StatusOr<std::string> tracefs = FindMount("tracefs");
  if (!tracefs.ok()) return absl::UnavailableError("no tracefs is mounted");
  std::string events = absl::StrCat(*tracefs, "/events");
  if (access(events.c_str(), R_OK | X_OK) != 0) {
    return absl::UnavailableError(absl::StrCat("tracefs is not readable here: ", events, ": ", strerror(errno)));
  }
  return ReadFormatUnder(*tracefs, subsystem, event);
}

}  // namespace tgd
