// Strict, position-aware reading of yaml-cpp nodes: mappings with a fixed
// set of fields (unknown and duplicate fields are errors), typed scalars, and
// a node budget that bounds the work alias expansion can cause. Private to
// compat/policy. yaml-cpp exceptions are caught by the caller (parse.cc).
#ifndef TGDISPATCH_COMPAT_POLICY_INTERNAL_READER_H_
#define TGDISPATCH_COMPAT_POLICY_INTERNAL_READER_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "compat/policy/policy.h"

namespace tgd::policy::internal {

// Nodes visited per document, aliases counted each time they are reached.
inline constexpr int64_t kNodeBudget = 200000;

// The most an error message quotes of a field path or a reason (which may
// quote the input): longer ones keep their start and end.
inline constexpr size_t kMaxQuotedBytes = 512;
// `text`, or its first and last max/2 bytes around "...(N bytes omitted)...".
std::string BoundQuote(absl::string_view text, size_t max);

Pos PosOf(const YAML::Node& n);
// INVALID_ARGUMENT "line L col C: <path>: <reason>" (no position if unknown).
absl::Status ErrorAt(Pos pos, absl::string_view path, absl::string_view reason);
absl::Status ErrorAt(const YAML::Node& n, absl::string_view path, absl::string_view reason);

class Budget {
 public:
  absl::Status Take(const YAML::Node& n, absl::string_view path);

 private:
  int64_t left_ = kNodeBudget;
};

// A mapping node whose keys were checked against `allowed`.
class MapReader {
 public:
  // Errors: the node is not a mapping, has an unknown or duplicate key, or a
  // non-scalar key. A null node reads as an empty mapping.
  static absl::StatusOr<MapReader> Open(Budget* budget, const YAML::Node& node, std::string path,
                                        std::initializer_list<const char*> allowed);

  const std::string& path() const { return path_; }
  Pos pos() const { return internal::PosOf(node_); }
  bool Has(const char* key) const;  // present and not null
  YAML::Node Get(const char* key) const;
  std::string PathOf(const char* key) const;
  Pos PosOf(const char* key) const;  // the value's position, or the mapping's
  absl::Status Error(const char* key, absl::string_view reason) const;
  // Error about element i of the list field `key` ("<key>[i]"), at the element.
  absl::Status ElementError(const char* key, size_t i, absl::string_view reason) const;
  // All keys in document order (for free-form maps like matchLabels).
  const std::vector<std::pair<std::string, YAML::Node>>& entries() const { return entries_; }

  absl::Status String(const char* key, std::string* out, bool required = false) const;
  absl::Status Bool(const char* key, bool* out) const;
  absl::Status Int(const char* key, int64_t min, int64_t max, int64_t* out, bool required = false) const;
  absl::Status StringList(const char* key, std::vector<std::string>* out, bool required = false) const;
  // A list of items: each element with its path "<key>[i]". Null = empty.
  absl::Status List(const char* key, std::vector<std::pair<YAML::Node, std::string>>* out,
                    bool required = false) const;

 private:
  Budget* budget_ = nullptr;
  YAML::Node node_;
  std::string path_;
  std::vector<std::pair<std::string, YAML::Node>> entries_;
};

// Scalar readers for list elements.
absl::Status ScalarString(Budget* budget, const YAML::Node& n, const std::string& path, std::string* out);
absl::Status ScalarInt(Budget* budget, const YAML::Node& n, const std::string& path, int64_t min,
                       int64_t max, int64_t* out);

}  // namespace tgd::policy::internal

#endif  // TGDISPATCH_COMPAT_POLICY_INTERNAL_READER_H_
