// matchCapabilityChanges / matchNamespaceChanges (see change_selectors.h).
#include "sensor/loader/change_selectors.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "bpf/process/process_msg.h"
#include "compat/policy/capabilities.h"
#include "sensor/base/status_macros.h"

namespace tgd {
namespace {

absl::Status Invalid(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

// Tetragon's names of matchNamespaceChanges values, compared lower-cased.
std::optional<int> ChangeNamespaceBit(const std::string& v) {
  static constexpr std::pair<const char*, int> kNs[] = {
      {"uts", TGD_NS_UTS}, {"ipc", TGD_NS_IPC}, {"mnt", TGD_NS_MNT}, {"pid", TGD_NS_PID},
      {"pidforchildren", TGD_NS_PID_FOR_CHILDREN}, {"net", TGD_NS_NET}, {"time", TGD_NS_TIME},
      {"timeforchildren", TGD_NS_TIME_FOR_CHILDREN}, {"cgroup", TGD_NS_CGROUP}, {"user", TGD_NS_USER}};
  const std::string lower = absl::AsciiStrToLower(v);
  for (const auto& [name, bit] : kNs) {
    if (lower == name) return bit;
  }
  return std::nullopt;
}

uint8_t InNotIn(const std::string& op) {
  if (op == "In") return TGD_OP_EQ;
  if (op == "NotIn") return TGD_OP_NEQ;
  return TGD_OP_NONE;
}

}  // namespace

absl::Status AddNotHostUserNsClause(const std::string& path,
                                    const std::function<absl::StatusOr<uint64_t>(const std::string&)>& host_ns,
                                    tgd_selector* sel, int* clause, uint64_t* host_inum) {
  if (sel->n_ns >= TGD_MAX_NS_CLAUSES) {
    return absl::UnimplementedError(absl::StrCat(path, ": isNamespaceCapability with ", TGD_MAX_NS_CLAUSES,
                                                 " matchNamespaces is not supported by tgdispatch yet"));
  }
  absl::StatusOr<uint64_t> host = host_ns("user");
  if (!host.ok()) {
    return absl::Status(host.status().code(),
                        absl::StrCat(path, ": cannot read the host user namespace: ", host.status().message()));
  }
  *clause = sel->n_ns++;
  sel->ns[*clause] = {TGD_OP_NEQ, TGD_NS_USER, {0, 0}};
  *host_inum = *host;
  return absl::OkStatus();
}

absl::Status CompileCapabilitySelectors(const policy::Selector& s,
                                        const std::function<absl::StatusOr<uint64_t>(const std::string&)>& host_ns,
                                        tgd_selector* sel, std::vector<std::pair<int, uint64_t>>* ns_values) {
  if (s.match_capabilities.size() > TGD_MAX_CAP_CLAUSES) {
    return absl::UnimplementedError(absl::StrCat(s.match_capabilities[TGD_MAX_CAP_CLAUSES].path, ": more than ",
                                                 TGD_MAX_CAP_CLAUSES,
                                                 " matchCapabilities per selector is not supported by tgdispatch yet"));
  }
  bool host_user_ns_clause = false;
  for (size_t k = 0; k < s.match_capabilities.size(); ++k) {
    const policy::MatchCapabilities& c = s.match_capabilities[k];
    if (c.is_namespace_capability && !host_user_ns_clause) {
      // Tetragon rejects the selector when the task is in the host's user
      // namespace (process_filter_capabilities): exactly an ANDed
      // "User NotIn [host_ns]" clause, added once.
      int clause = 0;
      uint64_t inum = 0;
      TGD_RETURN_IF_ERROR(AddNotHostUserNsClause(c.path + ".isNamespaceCapability", host_ns, sel, &clause, &inum));
      ns_values->push_back({clause, inum});
      host_user_ns_clause = true;
    }
    const std::string op = absl::AsciiStrToLower(c.op);
    if (op != "in" && op != "notin") return Invalid(c.path + ".operator", absl::StrCat("operator \"", c.op, "\" is not In or NotIn"));
    uint64_t mask = 0;
    for (size_t j = 0; j < c.values.size(); ++j) {
      std::optional<int> bit = policy::CapabilityBit(c.values[j]);
      if (!bit) {
        return Invalid(absl::StrCat(c.path, ".values[", j, "]"), absl::StrCat("unknown capability \"", c.values[j], "\""));
      }
      mask |= 1ULL << *bit;
    }
    const uint8_t code = op == "in" ? TGD_OP_EQ : TGD_OP_NEQ;
    const uint8_t type = c.type == "Inheritable" ? 1 : c.type == "Permitted" ? 2 : 0;
    if (k == 0) {
      sel->cap_op = code;
      sel->cap_type = type;
      sel->cap_mask = mask;
      sel->flags |= TGD_SEL_CAPS;
    } else {
      sel->more_caps[k - 1] = {mask, code, type, {}};
    }
  }
  return CompileChangeSelectors(s, host_ns, sel, ns_values);
}

absl::Status CompileChangeSelectors(const policy::Selector& s,
                                    const std::function<absl::StatusOr<uint64_t>(const std::string&)>& host_ns,
                                    tgd_selector* sel, std::vector<std::pair<int, uint64_t>>* ns_values) {
  if (s.match_capability_changes.size() > 1) {
    // Tetragon's datapath evaluates only the first one.
    return absl::UnimplementedError(absl::StrCat(s.match_capability_changes[1].path,
                                                 ": more than one matchCapabilityChanges per selector is not "
                                                 "supported by tgdispatch yet"));
  }
  for (const policy::MatchCapabilities& c : s.match_capability_changes) {
    const std::string type = absl::AsciiStrToLower(c.type);
    if (type != "effective" && type != "inheritable" && type != "permitted") {
      return Invalid(c.path + ".type", absl::StrCat("unknown capability set \"", c.type,
                                                    "\" (Effective, Inheritable or Permitted)"));
    }
    const uint8_t op = InNotIn(c.op);
    if (op == TGD_OP_NONE) {
      return Invalid(c.path + ".operator", absl::StrCat("operator \"", c.op, "\" is not In or NotIn"));
    }
    uint64_t mask = 0;
    for (size_t j = 0; j < c.values.size(); ++j) {
      std::optional<int> bit = policy::CapabilityBit(c.values[j]);
      if (!bit) {
        return Invalid(absl::StrCat(c.path, ".values[", j, "]"), absl::StrCat("unknown capability \"", c.values[j], "\""));
      }
      mask |= 1ULL << *bit;
    }
    if (c.is_namespace_capability) {
      int clause = 0;
      uint64_t inum = 0;
      if (absl::Status st = AddNotHostUserNsClause(c.path + ".isNamespaceCapability", host_ns, sel, &clause, &inum);
          !st.ok()) {
        return st;
      }
      ns_values->push_back({clause, inum});
    }
    sel->cc_op = op;
    sel->cc_type = type == "inheritable" ? 1 : type == "permitted" ? 2 : 0;
    sel->cc_mask = mask;
  }
  if (s.match_namespace_changes.size() > 1) {
    return Invalid(s.match_namespace_changes[1].path,
                   "matchNamespaceChanges takes a single entry per selector (as Tetragon)");
  }
  for (const policy::MatchNamespaceChanges& n : s.match_namespace_changes) {
    const uint8_t op = InNotIn(n.op);
    if (op == TGD_OP_NONE) {
      return Invalid(n.path + ".operator", absl::StrCat("operator \"", n.op, "\" is not In or NotIn"));
    }
    uint16_t mask = 0;
    for (size_t j = 0; j < n.values.size(); ++j) {
      std::optional<int> bit = ChangeNamespaceBit(n.values[j]);
      if (!bit) {
        return Invalid(absl::StrCat(n.path, ".values[", j, "]"), absl::StrCat("unknown namespace \"", n.values[j], "\""));
      }
      mask |= static_cast<uint16_t>(1u << *bit);
    }
    sel->nc_op = op;
    sel->nc_mask = mask;
  }
  return absl::OkStatus();
}

}  // namespace tgd
