// PolicyPersistence: where the policy manager records the policies added
// through the API (AddTracingPolicy), with their enabled state and mode, so
// that the next daemon run brings them back as they were. Implemented by
// sensor/statedir (files under --state-dir); tests use a fake.
#ifndef TGDISPATCH_SENSOR_POLICYMGR_POLICY_PERSISTENCE_H_
#define TGDISPATCH_SENSOR_POLICYMGR_POLICY_PERSISTENCE_H_

#include <string>

#include "absl/status/status.h"
#include "sensor/policymgr/policy_backend.h"

namespace tgd {

struct PersistedPolicy {
  std::string namespace_;  // empty for cluster-scoped policies
  std::string name;
  std::string yaml;        // the document as it was added
  bool enabled = true;
  PolicyMode mode = PolicyMode::kEnforce;
};

class PolicyPersistence {
 public:
  virtual ~PolicyPersistence() = default;
  // Records `p`, replacing what was recorded under its namespace and name.
  // Errors: whatever stops the record (the implementation names it).
  virtual absl::Status Save(const PersistedPolicy& p) = 0;
  // Forgets the policy (nothing recorded is fine). Errors as Save.
  virtual absl::Status Remove(const std::string& ns, const std::string& name) = 0;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYMGR_POLICY_PERSISTENCE_H_
