// Strict yaml-cpp node reading.
#include "compat/policy/internal/reader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compat/policy/internal/vocab.h"

namespace tgd::policy::internal {
namespace {

const char* KindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "null";
    default: return "undefined";
  }
}

bool Quoted(const YAML::Node& n) { return n.Tag() == "!"; }

}  // namespace

Pos PosOf(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  if (m.is_null() || m.line < 0) return Pos{};
  return Pos{m.line + 1, m.column + 1};
}

std::string BoundQuote(absl::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  // Cut at character boundaries (never inside a UTF-8 sequence).
  auto boundary = [&](size_t i) {
    while (i > 0 && i < text.size() && (static_cast<unsigned char>(text[i]) & 0xc0) == 0x80) --i;
    return i;
  };
  size_t head = boundary(max / 2);
  size_t tail = boundary(text.size() - max / 2);
  return absl::StrCat(text.substr(0, head), "...(", tail - head, " bytes omitted)...", text.substr(tail));
}

absl::Status ErrorAt(Pos pos, absl::string_view path, absl::string_view reason_in) {
  // The input may be anything: what an error quotes of it is bounded.
  std::string where = path.empty() ? std::string("document") : BoundQuote(path, kMaxQuotedBytes);
  std::string reason = BoundQuote(reason_in, kMaxQuotedBytes);
  if (pos.line <= 0) return absl::InvalidArgumentError(absl::StrCat(where, ": ", reason));
  return absl::InvalidArgumentError(
      absl::StrCat("line ", pos.line, " col ", pos.column, ": ", where, ": ", reason));
}

absl::Status ErrorAt(const YAML::Node& n, absl::string_view path, absl::string_view reason) {
  return ErrorAt(PosOf(n), path, reason);
}

absl::Status Budget::Take(const YAML::Node& n, absl::string_view path) {
  if (--left_ < 0) {
    return ErrorAt(n, path,
                   absl::StrCat("document too complex: more than ", kNodeBudget,
                                " nodes after alias expansion"));
  }
  return absl::OkStatus();
}

absl::StatusOr<MapReader> MapReader::Open(Budget* budget, const YAML::Node& node, std::string path,
                                          std::initializer_list<const char*> allowed) {
  if (absl::Status s = budget->Take(node, path); !s.ok()) return s;
  MapReader r;
  r.budget_ = budget;
  r.node_ = node;
  r.path_ = std::move(path);
  if (node.IsNull()) return r;
  if (!node.IsMap()) return ErrorAt(node, r.path_, absl::StrCat("must be a mapping, not ", KindName(node)));
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (absl::Status s = budget->Take(it->first, r.path_); !s.ok()) return s;
    if (!it->first.IsScalar()) return ErrorAt(it->first, r.path_, "field names must be strings");
    std::string key = it->first.Scalar();
    std::string key_path = r.path_.empty() ? key : absl::StrCat(r.path_, ".", key);
    if (allowed.size() > 0 &&
        std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }) ==
            allowed.end()) {
      return ErrorAt(it->first, key_path,
                     absl::StrCat("unknown field (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
    }
    for (const auto& e : r.entries_) {
      if (e.first == key) return ErrorAt(it->first, key_path, "duplicate field");
    }
    r.entries_.emplace_back(key, it->second);
  }
  return r;
}

bool MapReader::Has(const char* key) const {
  YAML::Node n = Get(key);
  return n.IsDefined() && !n.IsNull();
}

YAML::Node MapReader::Get(const char* key) const {
  for (const auto& e : entries_) {
    if (e.first == key) return e.second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string MapReader::PathOf(const char* key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
}

Pos MapReader::PosOf(const char* key) const {
  YAML::Node n = Get(key);
  if (n.IsDefined()) {
    Pos p = internal::PosOf(n);
    if (p.line > 0) return p;
  }
  return pos();
}

absl::Status MapReader::Error(const char* key, absl::string_view reason) const {
  return ErrorAt(PosOf(key), PathOf(key), reason);
}

absl::Status MapReader::ElementError(const char* key, size_t i, absl::string_view reason) const {
  Pos p = PosOf(key);
  YAML::Node n = Get(key);
  if (n.IsSequence() && i < n.size()) {
    Pos e = internal::PosOf(n[i]);
    if (e.line > 0) p = e;
  }
  return ErrorAt(p, absl::StrCat(PathOf(key), "[", i, "]"), reason);
}

absl::Status ScalarString(Budget* budget, const YAML::Node& n, const std::string& path, std::string* out) {
  if (absl::Status s = budget->Take(n, path); !s.ok()) return s;
  if (!n.IsScalar()) return ErrorAt(n, path, absl::StrCat("must be a string, not ", KindName(n)));
  *out = n.Scalar();
  return absl::OkStatus();
}

absl::Status ScalarInt(Budget* budget, const YAML::Node& n, const std::string& path, int64_t min,
                       int64_t max, int64_t* out) {
  if (absl::Status s = budget->Take(n, path); !s.ok()) return s;
  if (!n.IsScalar()) return ErrorAt(n, path, absl::StrCat("must be an integer, not ", KindName(n)));
  if (Quoted(n)) return ErrorAt(n, path, absl::StrCat("must be an integer, not the string \"", n.Scalar(), "\""));
  int64_t v;
  if (!ParseSigned(n.Scalar(), 64, &v).ok()) {
    return ErrorAt(n, path, absl::StrCat("\"", n.Scalar(), "\" is not an integer"));
  }
  if (v < min || v > max) {
    return ErrorAt(n, path, absl::StrCat(v, " is out of range [", min, ", ", max, "]"));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status MapReader::String(const char* key, std::string* out, bool required) const {
  if (!Has(key)) {
    if (required) return ErrorAt(pos(), PathOf(key), "required");
    return absl::OkStatus();
  }
  return ScalarString(budget_, Get(key), PathOf(key), out);
}

absl::Status MapReader::Bool(const char* key, bool* out) const {
  if (!Has(key)) return absl::OkStatus();
  YAML::Node n = Get(key);
  if (absl::Status s = budget_->Take(n, PathOf(key)); !s.ok()) return s;
  const std::string& v = n.IsScalar() ? n.Scalar() : "";
  if (n.IsScalar() && !Quoted(n)) {
    if (v == "true" || v == "True" || v == "TRUE") return *out = true, absl::OkStatus();
    if (v == "false" || v == "False" || v == "FALSE") return *out = false, absl::OkStatus();
  }
  if (n.IsScalar()) {
    return Error(key, absl::StrCat("must be true or false, not ", Quoted(n) ? "the string " : "", "\"", v, "\""));
  }
  return Error(key, absl::StrCat("must be true or false, not ", KindName(n)));
}

absl::Status MapReader::Int(const char* key, int64_t min, int64_t max, int64_t* out, bool required) const {
  if (!Has(key)) {
    if (required) return ErrorAt(pos(), PathOf(key), "required");
    return absl::OkStatus();
  }
  return ScalarInt(budget_, Get(key), PathOf(key), min, max, out);
}

absl::Status MapReader::StringList(const char* key, std::vector<std::string>* out, bool required) const {
  std::vector<std::pair<YAML::Node, std::string>> items;
  if (absl::Status s = List(key, &items, required); !s.ok()) return s;
  out->clear();
  for (const auto& [n, p] : items) {
    std::string v;
    if (absl::Status s = ScalarString(budget_, n, p, &v); !s.ok()) return s;
    out->push_back(std::move(v));
  }
  return absl::OkStatus();
}

absl::Status MapReader::List(const char* key, std::vector<std::pair<YAML::Node, std::string>>* out,
                             bool required) const {
  out->clear();
  if (!Has(key)) {
    if (required) return ErrorAt(pos(), PathOf(key), "required");
    return absl::OkStatus();
  }
  YAML::Node n = Get(key);
  if (absl::Status s = budget_->Take(n, PathOf(key)); !s.ok()) return s;
  if (!n.IsSequence()) return Error(key, absl::StrCat("must be a list, not ", KindName(n)));
  size_t i = 0;
  for (auto it = n.begin(); it != n.end(); ++it, ++i) {
    out->emplace_back(*it, absl::StrCat(PathOf(key), "[", i, "]"));
  }
  return absl::OkStatus();
}

}  // namespace tgd::policy::internal
