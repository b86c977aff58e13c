// Dumps of policy filter maps for `tgdispatch policyfilter dump`: who owns
// each entry (a Tetragon agent's maps and tgdispatch's own) and the
// inconsistencies between a policy_filter_maps and its reverse
// policy_filter_cgroup_maps.
#ifndef TGDISPATCH_SENSOR_POLICYFILTER_FILTER_DUMP_H_
#define TGDISPATCH_SENSOR_POLICYFILTER_FILTER_DUMP_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sensor/policyfilter/filter_maps.h"

namespace tgd {

// What disagrees between the two maps of one owner, one line each:
//   - a policy lists a cgroup whose row lacks the policy (or has no row);
//   - a row lists a policy that has no entry, or whose entry lacks the cgroup;
//   - an empty row (upstream deletes a row when it empties).
// The hostSelector key (UINT64_MAX) is only ever in policy_filter_maps (as
// upstream) and is not a disagreement. Nothing is checked without the
// reverse map (has_cgroup_map false).
std::vector<std::string> PolicyFilterInconsistencies(
    const PolicyFilterContent& c, bool has_cgroup_map);

// One owner's maps as read from its pins.
struct OwnedMaps {
  std::string owner;  // "tetragon" or "tgdispatch"
  std::string dir;
  std::optional<PolicyFilterContent> content;  // nullopt: not pinned
  bool has_cgroup_map = true;
};

// The inconsistencies: within each owner's pair of maps (each line prefixed
// with the owner), agent keys in tgdispatch's id range (left by a tgdispatch
// that wrote into the agent's maps), and policy ids that are keys of both
// owners' maps.
std::vector<std::string> OwnedDumpIssues(const std::vector<OwnedMaps>& maps);

// Every entry of every owner's maps, each line tagged with its owner, then
// the inconsistencies (OwnedDumpIssues; only those in *only when set: the
// ones seen in several reads, as a writer changes the two maps one after the
// other). *problems (if set) receives their number.
std::string FormatOwnedDump(const std::vector<OwnedMaps>& maps,
                            int* problems = nullptr,
                            const std::set<std::string>* only = nullptr);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYFILTER_FILTER_DUMP_H_
