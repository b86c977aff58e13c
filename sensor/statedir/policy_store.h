// PolicyStore: the policies added through the API, kept as files under the
// daemon's state directory (--state-dir, default /var/lib/tgdispatch) so a
// restart lists them again in the same state and mode. One file per policy,
// <state-dir>/policies/<namespace>_<name>.policy: a short header (format
// version, name, namespace, enabled, mode), a "---" line, then the YAML as
// it was added. Each write goes to a temporary file that is synced and then
// renamed over the old one (a crash leaves the old file or the new one, never
// half of one). Sizes are bounded: a file holds at most one policy
// (kMaxPolicyBytes) plus its header, and larger files are not read.
//
// StateDirLock: the lock a running daemon holds on <state-dir>/daemon.lock
// (flock), so that two daemons never share a state dir and `tgdispatch
// cleanup` can tell that one runs.
#ifndef TGDISPATCH_SENSOR_STATEDIR_POLICY_STORE_H_
#define TGDISPATCH_SENSOR_STATEDIR_POLICY_STORE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sensor/base/file_descriptor.h"
#include "sensor/policymgr/policy_persistence.h"

namespace tgd {

inline constexpr char kDefaultStateDir[] = "/var/lib/tgdispatch";

class PolicyStore : public PolicyPersistence {
 public:
  // Creates <dir>/policies (mode 0700) if needed. Errors: mkdir's errno
  // naming the directory; INVALID_ARGUMENT for a relative path.
  static absl::StatusOr<std::unique_ptr<PolicyStore>> Open(const std::string& dir);

  // Errors: INVALID_ARGUMENT (a name or namespace with a control character,
  // YAML over kMaxPolicyBytes), the errno of a write/fsync/rename naming
  // the file.
  absl::Status Save(const PersistedPolicy& p) override;
  absl::Status Remove(const std::string& ns, const std::string& name) override;

  struct Contents {
    std::vector<PersistedPolicy> policies;  // sorted by file name
    // Files that could not be read or parsed: (path, why). They stay in the
    // directory (Remove of their namespace/name deletes them).
    std::vector<std::pair<std::string, absl::Status>> errors;
  };
  Contents LoadAll() const;

  const std::string& policies_dir() const { return policies_dir_; }
  // The file a policy is kept in (for tests).
  std::string PathOf(const std::string& ns, const std::string& name) const;

 private:
  explicit PolicyStore(std::string policies_dir) : policies_dir_(std::move(policies_dir)) {}
  std::string policies_dir_;
};

// Serializes / parses one policy file (exposed for tests). Parse errors:
// INVALID_ARGUMENT naming what is wrong.
std::string FormatPolicyFile(const PersistedPolicy& p);
absl::StatusOr<PersistedPolicy> ParsePolicyFile(const std::string& text);

class StateDirLock {
 public:
  // Takes the lock on <dir>/daemon.lock (creating dir, mode 0700) and writes
  // this pid into it. Errors: FAILED_PRECONDITION naming the pid of the
  // daemon that holds it; the errno of mkdir/open.
  static absl::StatusOr<std::unique_ptr<StateDirLock>> Acquire(const std::string& dir);
  // The pid of a running daemon holding the lock on `dir`, 0 if none.
  static int HolderPid(const std::string& dir);

 private:
  explicit StateDirLock(FileDescriptor fd) : fd_(std::move(fd)) {}
  FileDescriptor fd_;  // closing it releases the lock
};

// Removes the policies kept under `dir`, the lock file and `dir` itself (if
// then empty). Errors: the errno of a removal naming the path.
absl::Status RemoveStateDir(const std::string& dir);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_STATEDIR_POLICY_STORE_H_
