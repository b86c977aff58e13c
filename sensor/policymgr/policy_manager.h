// PolicyManager: the tracing policy lifecycle behind the gRPC API (add,
// delete, list, enable/disable, mode). It parses and checks a policy,
// allocates its policy-filter id, asks the backend to load it, and keeps the
// status Tetragon's ListTracingPolicies reports. As in Tetragon, a policy
// that parses but fails to load stays listed in TP_STATE_LOAD_ERROR with its
// error until it is deleted or added again; one that does not parse leaves
// no trace.
#ifndef TGDISPATCH_SENSOR_POLICYMGR_POLICY_MANAGER_H_
#define TGDISPATCH_SENSOR_POLICYMGR_POLICY_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "api/sensors.pb.h"
#include "sensor/policymgr/filter_ids.h"
#include "sensor/policymgr/policy_backend.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/policymgr/policy_persistence.h"

namespace tgd {

class PolicyManager {
 public:
  // `backend` must outlive the manager. Scoped policies get their filter ids
  // from `filter_ids` (FilterIdAllocator::BesideTetragon when the policy
  // filter maps are a Tetragon agent's).
  explicit PolicyManager(PolicyBackend* backend,
                         FilterIdAllocator filter_ids = FilterIdAllocator::Own())
      : backend_(backend), filter_ids_(std::move(filter_ids)) {}
  // Unloads every policy (outside the lock).
  ~PolicyManager();

  // Parses `yaml` (ParsePolicyDocument) and adds it (AddParsed). At most
  // max_concurrent_requests() run at once (parsing costs memory in
  // proportion to the input); the others wait their turn. Errors:
  // INVALID_ARGUMENT (bad YAML, naming line/column/field; nothing is kept),
  // and AddParsed's.
  absl::Status Add(absl::string_view yaml);
  // What a failed load leaves: nothing (an AddTracingPolicy call, whose
  // caller gets the error: issue 2's "a failed add leaves no trace"), or,
  // as Tetragon keeps a policy that fails to load, an entry listed in
  // TP_STATE_LOAD_ERROR with the message (a --policy-dir file: nobody else
  // would see the error).
  enum class OnFailure { kForget, kListAsLoadError };
  // How a policy is added.
  struct AddOptions {
    // Recorded in the persistence (set_persistence) once loaded, and
    // forgotten there when deleted: a policy added through the API.
    bool persist = false;
    // Already recorded (a policy brought back at start): not written again,
    // but forgotten there when deleted, also when it failed to load.
    bool persisted = false;
    bool enabled = true;
    PolicyMode mode = PolicyMode::kEnforce;
  };
  // Loads a parsed policy. A policy of that name and namespace that failed
  // to load is replaced. The load runs outside the manager's lock: while it
  // does, the policy is listed in TP_STATE_LOADING and every other call goes
  // on. Errors: ALREADY_EXISTS (a policy of the same name in the same
  // namespace is loaded or loading; the original is kept), ABORTED (deleted
  // while it was loading; nothing stays loaded),
  // RESOURCE_EXHAUSTED (no filter id left) and whatever the backend's Load
  // returns (FAILED_PRECONDITION, UNIMPLEMENTED, ...). A scoped policy's
  // filter id is spent even when its load fails (see filter_ids.h).
  // With options.persist, a policy that cannot be recorded is unloaded
  // again and the add fails with the recording's error (a policy that
  // would silently vanish at the next restart is not kept).
  absl::Status AddParsed(PolicyDocument doc, OnFailure on_failure, const AddOptions& options);
  absl::Status AddParsed(PolicyDocument doc, OnFailure on_failure = OnFailure::kForget) {
    return AddParsed(std::move(doc), on_failure, AddOptions());
  }
  // Adds with options.persist (AddTracingPolicy).
  absl::Status AddPersisted(absl::string_view yaml);
  // Lists `name` in TP_STATE_LOAD_ERROR with `error` for a policy that could
  // not be parsed (a --policy-dir file), replacing one that failed to load.
  // Errors: ALREADY_EXISTS (a loaded policy has that name).
  // `persisted`: recorded in the persistence (a --state-dir policy that no
  // longer parses): deleting it forgets the record.
  absl::Status AddLoadError(const std::string& name, const std::string& ns, std::string error,
                            bool persisted = false);
  // Unloads and forgets a policy, also one that failed to load or is still
  // loading (its add then unloads it and returns ABORTED). The unload runs
  // outside the lock. Errors: NOT_FOUND.
  absl::Status Delete(const std::string& name, const std::string& ns);
  // Changes enablement and/or mode. Errors: NOT_FOUND, INVALID_ARGUMENT
  // (TP_MODE_UNKNOWN / MONITOR_ONLY), FAILED_PRECONDITION (the policy failed
  // to load or is still loading), and the backend's errors.
  absl::Status Configure(const std::string& name, const std::string& ns,
                         std::optional<bool> enable, std::optional<tetragon::TracingPolicyMode> mode);

  std::vector<tetragon::TracingPolicyStatus> List() const;
  std::vector<tetragon::SensorStatus> Sensors() const;
  // Policies loaded (those in TP_STATE_LOAD_ERROR or loading not counted).
  size_t size() const;
  // Policies being loaded now.
  size_t loading() const;
  // How many Add calls may parse and load at once (default 4).
  void set_max_concurrent_requests(int n) {
    absl::MutexLock lock(&slots_mu_);
    max_concurrent_requests_ = n;
  }
  // OK when the backend can load policies; otherwise FAILED_PRECONDITION
  // saying why (no backend, or the loader's datapath is unavailable).
  absl::Status LoaderStatus() const;
  const std::string& loader_name() const { return loader_name_; }
  // Where API-added policies are recorded (null: nowhere, the default).
  // Set before the first call; must outlive the manager.
  void set_persistence(PolicyPersistence* p) { persistence_ = p; }

 private:
  struct Entry {
    uint64_t id = 0;
    uint32_t filter_id = 0;
    PolicyDocument doc;
    bool enabled = true;
    PolicyMode mode = PolicyMode::kEnforce;
    std::unique_ptr<LoadedPolicy> loaded;  // null: loading or TP_STATE_LOAD_ERROR
    bool loading = false;                  // TP_STATE_LOADING: its AddParsed is running
    std::string error;                     // why it failed to load
    bool persisted = false;                // recorded in persistence_
  };
  // Records `e`'s current state if it is persisted (under mu_). Errors: Save's.
  absl::Status SaveState(const Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One of max_concurrent_requests_ slots, held for the life of the object.
  class RequestSlot {
   public:
    explicit RequestSlot(PolicyManager* m);
    ~RequestSlot();

   private:
    PolicyManager* m_;
  };
  using Key = std::pair<std::string, std::string>;  // (namespace, name)

  PolicyBackend* const backend_;
  PolicyPersistence* persistence_ = nullptr;
  const std::string loader_name_ = backend_ ? backend_->Name() : "";
  mutable absl::Mutex mu_;
  std::map<Key, Entry> policies_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  FilterIdAllocator filter_ids_ ABSL_GUARDED_BY(mu_);
  absl::Mutex slots_mu_;
  int slots_in_use_ ABSL_GUARDED_BY(slots_mu_) = 0;
  int max_concurrent_requests_ ABSL_GUARDED_BY(slots_mu_) = 4;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_POLICYMGR_POLICY_MANAGER_H_
