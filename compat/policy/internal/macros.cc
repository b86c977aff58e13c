// selectorsMacros expansion (see macros.h).
#include "compat/policy/internal/macros.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sensor/base/status_macros.h"

namespace tgd::policy::internal {
namespace {

using Items = std::vector<std::pair<YAML::Node, std::string>>;

bool NonEmpty(const YAML::Node& n) { return n.IsDefined() && !n.IsNull() && (!n.IsSequence() || n.size() > 0); }

absl::Status ExpandOne(Budget* budget, const MapReader& macros, YAML::Node selector, const std::string& path) {
  const YAML::Node& cs = selector;  // const reads never create fields
  if (!cs.IsMap() || !cs["macros"].IsDefined()) return absl::OkStatus();
  YAML::Node names = cs["macros"];
  const std::string names_path = path + ".macros";
  if (!names.IsNull() && !names.IsSequence()) return ErrorAt(names, names_path, "must be a list of macro names");
  std::vector<std::pair<std::string, YAML::Node>> merged;  // key -> node taken from a macro
  std::string label;
  for (size_t i = 0; names.IsSequence() && i < names.size(); ++i) {
    std::string name;
    const std::string elem_path = absl::StrCat(names_path, "[", i, "]");
    TGD_RETURN_IF_ERROR(ScalarString(budget, names[i], elem_path, &name));
    if (macros.entries().empty()) {
      return ErrorAt(names[i], elem_path,
                     absl::StrCat("macro \"", name, "\" is used, but spec.selectorsMacros defines no macros"));
    }
    if (!macros.Has(name.c_str())) {
      return ErrorAt(names[i], elem_path, absl::StrCat("undefined macro \"", name, "\" (not in spec.selectorsMacros)"));
    }
    const YAML::Node macro = macros.Get(name.c_str());
    if (macro.IsMap() && macro["macros"].IsDefined()) {
      return ErrorAt(macro, macros.PathOf(name.c_str()) + ".macros", "a macro definition cannot use other macros");
    }
    if (!macro.IsMap()) continue;  // an empty macro adds nothing (shape checked with the definitions)
    if (label.empty() && macro["label"].IsDefined() && macro["label"].IsScalar()) label = macro["label"].Scalar();
    for (const char* key : kMacroFilterKeys) {
      YAML::Node value = macro[key];
      if (!NonEmpty(value)) continue;
      bool taken = NonEmpty(cs[key]);
      for (const auto& [k, unused] : merged) taken = taken || k == key;
      if (taken) {
        return ErrorAt(value, absl::StrCat(path, ".", key),
                       absl::StrCat("set by the selector and by macro \"", name,
                                    "\" (or by two macros); a filter can come from one place only"));
      }
      merged.emplace_back(key, value);
    }
  }
  for (auto& [key, value] : merged) selector[key] = value;
  if (!label.empty() && !NonEmpty(cs["label"])) selector["label"] = label;
  selector.remove("macros");
  return absl::OkStatus();
}

}  // namespace

absl::Status ExpandSelectorsMacros(Budget* budget, const MapReader& spec) {
  YAML::Node defs = spec.Has("selectorsMacros") ? spec.Get("selectorsMacros") : YAML::Node();
  TGD_ASSIGN_OR_RETURN(MapReader macros, MapReader::Open(budget, defs, spec.PathOf("selectorsMacros"), {}));
  // Definitions: the shape of a selector (unknown fields are errors, as the CRD's).
  for (const auto& [name, node] : macros.entries()) {
    TGD_ASSIGN_OR_RETURN(
        MapReader m, MapReader::Open(budget, node, macros.PathOf(name.c_str()),
                                     {"label", "macros", "matchWorkloads", "matchPIDs", "matchArgs", "matchData",
                                      "matchActions", "matchReturnArgs", "matchReturnActions", "matchBinaries",
                                      "matchParentBinaries", "matchNamespaces", "matchNamespaceChanges",
                                      "matchCapabilities", "matchCapabilityChanges"}));
    (void)m;
  }
  for (const char* hooks : {"kprobes", "fentries", "tracepoints", "lsmhooks", "uprobes", "usdts"}) {
    const YAML::Node list = spec.Get(hooks);
    if (!list.IsSequence()) continue;  // shape errors are reported by the hook parser
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node hook = list[i];
      if (!hook.IsMap() || !hook["selectors"].IsDefined() || !hook["selectors"].IsSequence()) continue;
      YAML::Node sels = hook["selectors"];
      for (size_t j = 0; j < sels.size(); ++j) {
        TGD_RETURN_IF_ERROR(budget->Take(sels[j], "spec"));
        TGD_RETURN_IF_ERROR(ExpandOne(budget, macros, sels[j], absl::StrCat("spec.", hooks, "[", i, "].selectors[", j, "]")));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tgd::policy::internal
