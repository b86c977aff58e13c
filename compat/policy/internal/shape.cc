// CheckYamlShape: the limits on an input's shape, checked before yaml-cpp
// builds any node (a lexical pass, then a streaming pass of its event parser).
#include "compat/policy/internal/shape.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <exception>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "compat/policy/internal/reader.h"

namespace tgd::policy::internal {
namespace {

// Limits on the shape of an input, checked by a streaming pass of yaml-cpp's
// event parser before any node is built: yaml-cpp 0.7 spends a few hundred
// bytes per node and recurses per nesting level, so 1 MiB of "[" used to
// cost ~250 MB. Aliases are counted as what they expand to (yaml-cpp shares
// the aliased node, but the policy model copies it), so an alias bomb is
// refused before it is walked.
inline constexpr int kMaxDepth = 64;                    // nested collections
inline constexpr int64_t kMaxNodes = kNodeBudget;  // after alias expansion
// Nodes yaml-cpp builds (~400 bytes each, aliases not expanded): 50,000 is
// ~20 MB, and a policy with 5,000 values in its selectors uses ~12,000.
inline constexpr int64_t kMaxYamlNodes = 50000;
inline constexpr int64_t kMaxScalarBytes = 4 << 20;     // after alias expansion

// Thrown by ShapeChecker out of the parser (and caught in LoadDocuments).
struct ShapeLimitExceeded {
  YAML::Mark mark;
  std::string what;
};

// Counts nesting, nodes and scalar bytes (aliases expanded) and documents,
// and stops the parse at the first limit exceeded.
class ShapeChecker : public YAML::EventHandler {
 public:
  explicit ShapeChecker(size_t max_documents) : max_documents_(max_documents) {}
  void OnDocumentStart(const YAML::Mark&) override {
    if (++documents_ > max_documents_) {
      throw ShapeLimitExceeded{YAML::Mark::null_mark(), "malformed stream (a document starts with a stray ',')"};
    }
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { Leaf(mark, anchor, 0); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    Size size = it == anchors_.end() ? Size{1, 0} : it->second;
    Add(mark, size.nodes, size.bytes);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Leaf(mark, anchor, static_cast<int64_t>(value.size()));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Size {
    int64_t nodes = 0, bytes = 0;
  };
  struct Frame {
    YAML::anchor_t anchor;
    Size at_start;
  };
  void Add(const YAML::Mark& mark, int64_t nodes, int64_t bytes) {
    if (++yaml_nodes_ > kMaxYamlNodes) {
      throw ShapeLimitExceeded{mark, absl::StrCat("document too complex: more than ", kMaxYamlNodes, " nodes")};
    }
    total_.nodes += nodes;
    total_.bytes += bytes;
    if (total_.nodes > kMaxNodes) {
      throw ShapeLimitExceeded{mark, absl::StrCat("document too complex: more than ", kMaxNodes,
                                                  " nodes (aliases counted as what they expand to)")};
    }
    if (total_.bytes > kMaxScalarBytes) {
      throw ShapeLimitExceeded{mark, absl::StrCat("document too large: more than ", kMaxScalarBytes,
                                                  " bytes of values (aliases counted as what they expand to)")};
    }
  }
  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor, int64_t bytes) {
    Add(mark, 1, bytes);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Size{1, bytes};
  }
  void Open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) {
      throw ShapeLimitExceeded{mark, absl::StrCat("document too deep: more than ", kMaxDepth,
                                                  " nested sequences or mappings")};
    }
    stack_.push_back(Frame{anchor, total_});
    Add(mark, 1, 0);
  }
  void Close() {
    if (stack_.empty()) return;
    Frame f = stack_.back();
    stack_.pop_back();
    if (f.anchor != YAML::NullAnchor) {
      anchors_[f.anchor] = Size{total_.nodes - f.at_start.nodes, total_.bytes - f.at_start.bytes};
    }
  }

  const size_t max_documents_;
  size_t documents_ = 0;
  int64_t yaml_nodes_ = 0;  // nodes yaml-cpp would build (an alias is one)
  Size total_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Size> anchors_;
};

// The deepest nesting of flow collections ("[", "{") in `yaml`, read
// lexically (quoted scalars and comments skipped). yaml-cpp's scanner reads
// far ahead inside nested flow mappings ("{a: {a: ...") before the parser
// hands out a single event, so ShapeChecker alone would stop such an input
// only after ~100 MB; this pass stops it first. It may over-count brackets
// in plain or block scalars (refusing only inputs with 64 of them open).
int MaxFlowDepth(std::string_view yaml) {
  int depth = 0, max_depth = 0;
  char prev = '\n';
  for (size_t i = 0; i < yaml.size(); ++i) {
    char c = yaml[i];
    const bool token_start = prev == '\n' || prev == ' ' || prev == '\t' || prev == '[' || prev == '{' ||
                             prev == ',' || prev == ':';
    if (c == '#' && (prev == ' ' || prev == '\t' || prev == '\n')) {
      while (i < yaml.size() && yaml[i] != '\n') ++i;
      prev = '\n';
      continue;
    }
    if ((c == '"' || c == '\'') && token_start) {
      const char quote = c;
      for (++i; i < yaml.size(); ++i) {
        if (quote == '"' && yaml[i] == '\\') {
          ++i;  // an escaped character
        } else if (yaml[i] == quote) {
          if (quote == '\'' && i + 1 < yaml.size() && yaml[i + 1] == '\'') {
            ++i;  // '' inside single quotes
          } else {
            break;
          }
        }
      }
      prev = quote;
      continue;
    }
    if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
    prev = c;
  }
  return max_depth;
}

// Runs ShapeChecker over the stream. Throws ShapeLimitExceeded and what
// yaml-cpp throws.
void CheckShape(std::string_view yaml) {
  if (MaxFlowDepth(yaml) > kMaxDepth) {
    throw ShapeLimitExceeded{YAML::Mark::null_mark(),
                             absl::StrCat("document too deep: more than ", kMaxDepth,
                                          " nested sequences or mappings (\"[\" or \"{\")")};
  }
  size_t max_documents = 2 + static_cast<size_t>(std::count(yaml.begin(), yaml.end(), '\n'));
  std::stringstream in{std::string(yaml)};
  YAML::Parser parser(in);
  ShapeChecker checker(max_documents);
  while (parser.HandleNextDocument(checker)) {
  }
}

}  // namespace

absl::Status CheckYamlShape(std::string_view yaml) {
  try {
    CheckShape(yaml);
    return absl::OkStatus();
  } catch (const ShapeLimitExceeded& e) {
    Pos pos;
    if (!e.mark.is_null()) pos = Pos{e.mark.line + 1, e.mark.column + 1};
    return ErrorAt(pos, "yaml", e.what);
  } catch (const YAML::Exception& e) {
    Pos pos;
    if (!e.mark.is_null()) pos = Pos{e.mark.line + 1, e.mark.column + 1};
    return ErrorAt(pos, "yaml", e.msg);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("yaml: ", e.what()));
  }
}

}  // namespace tgd::policy::internal
