// Owned dumps and consistency checks of policy filter maps.
#include "sensor/policyfilter/filter_dump.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "compat/policyfilter/policy_filter.h"

namespace tgd {
namespace {

// tgdispatch's filter ids beside an agent (sensor/policymgr/filter_ids.h).
constexpr uint32_t kTgdBesideTetragonFirstId = 0x40000000;

std::string CgroupName(uint64_t cg) {
  return cg == POLICY_FILTER_HOST_CGROUP_KEY ? std::string("host")
                                             : absl::StrCat(cg);
}

std::string PolicyName(uint32_t p) {
  return p == POLICY_FILTER_ID_ALL_PODS ? absl::StrCat(p, "(all-pods)")
                                        : absl::StrCat(p);
}

}  // namespace

std::vector<std::string> PolicyFilterInconsistencies(
    const PolicyFilterContent& c, bool has_cgroup_map) {
  std::vector<std::string> out;
  if (!has_cgroup_map) return out;
  for (const auto& [p, cgs] : c.policies) {
    for (uint64_t cg : cgs) {
      if (cg == POLICY_FILTER_HOST_CGROUP_KEY) continue;
      auto row = c.cgroups.find(cg);
      if (row == c.cgroups.end()) {
        out.push_back(
            absl::StrCat("policy ", PolicyName(p), " lists cgroup ", cg,
                         ", which has no row in policy_filter_cgroup_maps"));
      } else if (!row->second.count(p)) {
        out.push_back(absl::StrCat(
            "policy ", PolicyName(p), " lists cgroup ", cg,
            ", whose policy_filter_cgroup_maps row lacks the policy"));
      }
    }
  }
  for (const auto& [cg, pols] : c.cgroups) {
    if (pols.empty()) {
      out.push_back(absl::StrCat("policy_filter_cgroup_maps row ",
                                 CgroupName(cg), " is empty"));
    }
    for (uint32_t p : pols) {
      auto pol = c.policies.find(p);
      if (pol == c.policies.end()) {
        out.push_back(absl::StrCat(
            "cgroup ", CgroupName(cg), " lists policy ", PolicyName(p),
            ", which has no entry in policy_filter_maps"));
      } else if (!pol->second.count(cg)) {
        out.push_back(absl::StrCat(
            "cgroup ", CgroupName(cg), " lists policy ", PolicyName(p),
            ", whose policy_filter_maps entry lacks the cgroup"));
      }
    }
  }
  return out;
}

std::vector<std::string> OwnedDumpIssues(const std::vector<OwnedMaps>& maps) {
  std::vector<std::string> issues;
  std::map<uint32_t, std::vector<std::string>> owners_of_id;
  for (const OwnedMaps& m : maps) {
    if (!m.content) continue;
    for (const auto& [p, cgs] : m.content->policies) {
      if (p != POLICY_FILTER_ID_ALL_PODS) owners_of_id[p].push_back(m.owner);
      if (m.owner == "tetragon" && p >= kTgdBesideTetragonFirstId &&
          p != 0xffffffffU) {
        issues.push_back(
            absl::StrCat(m.owner, ": policy ", p,
                         " is in tgdispatch's id range (left by a tgdispatch "
                         "that wrote into the agent's maps?)"));
      }
      if (m.owner == "tetragon" && p == 0xffffffffU) {
        issues.push_back(
            absl::StrCat(m.owner,
                         ": policy 4294967295 is no Tetragon id (left by a "
                         "tgdispatch that wrote its "
                         "all-pods entry into the agent's maps?)"));
      }
    }
    for (const std::string& s :
         PolicyFilterInconsistencies(*m.content, m.has_cgroup_map)) {
      issues.push_back(absl::StrCat(m.owner, ": ", s));
    }
  }
  for (const auto& [id, owners] : owners_of_id) {
    if (owners.size() > 1) {
      issues.push_back(
          absl::StrCat("policy id ", id, " is a key of both owners' maps"));
    }
  }
  return issues;
}

std::string FormatOwnedDump(const std::vector<OwnedMaps>& maps, int* problems,
                            const std::set<std::string>* only) {
  std::string out;
  for (const OwnedMaps& m : maps) {
    absl::StrAppend(&out, m.owner, ": ", m.dir, "\n");
    if (!m.content) {
      out += "  (not pinned)\n";
      continue;
    }
    const std::string tag = absl::StrCat("  [", m.owner, "] ");
    out += " cgroup id -> policy ids (policy_filter_cgroup_maps)\n";
    if (!m.has_cgroup_map) out += "  (not pinned)\n";
    for (const auto& [cg, pols] : m.content->cgroups) {
      absl::StrAppend(&out, tag, CgroupName(cg), ":");
      for (uint32_t p : pols) absl::StrAppend(&out, " ", PolicyName(p));
      out += "\n";
    }
    out += " policy id -> cgroup ids (policy_filter_maps)\n";
    for (const auto& [p, cgs] : m.content->policies) {
      absl::StrAppend(&out, tag, PolicyName(p), ":");
      for (uint64_t cg : cgs) absl::StrAppend(&out, " ", CgroupName(cg));
      out += "\n";
    }
  }
  std::vector<std::string> issues;
  for (std::string& s : OwnedDumpIssues(maps)) {
    if (!only || only->count(s)) issues.push_back(std::move(s));
  }
  if (issues.empty()) {
    out += "inconsistencies: none\n";
  } else {
    absl::StrAppend(&out, "inconsistencies: ", issues.size(), "\n");
    for (const std::string& s : issues) absl::StrAppend(&out, "  ", s, "\n");
  }
  if (problems) *problems = static_cast<int>(issues.size());
  return out;
}

}  // namespace tgd
