// imaHash (an LSM hook's Post): the hash of the hooked file's contents as
// IMA computes it (its algorithm, ima_hash= or CONFIG_IMA_DEFAULT_HASH),
// rendered as Tetragon renders process_lsm's ima_hash ("sha256:<hex>").
//
// Tetragon gets it in the kernel from bpf_ima_file_hash in a sleepable LSM
// program, at the hook. LSM programs load on no kernel tgdispatch is tested
// on, so here user space reads the file when the event is decoded, off the
// ring buffer reader: ImaHasher's worker hashes it (bounded: queue, file
// size, a cache of recent files by inode version) and publishes the event
// then. The file can have changed since the hook ran: the hash is of what
// the file holds when it is read, not necessarily what the hook saw. On a
// kernel without IMA (CONFIG_IMA off) Tetragon's helper fails and the event
// has no ima_hash: so here too.
#ifndef TGDISPATCH_SENSOR_IMAHASH_IMA_HASH_H_
#define TGDISPATCH_SENSOR_IMAHASH_IMA_HASH_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/events.pb.h"

namespace tgd {

// IMA's hash algorithm for a kernel with this command line and this
// configuration (the text of /proc/config.gz): ima_hash= if given, else
// CONFIG_IMA_DEFAULT_HASH; "" when CONFIG_IMA is not set (no IMA: no hash).
std::string ImaAlgorithmOf(absl::string_view cmdline, absl::string_view kernel_config);

// The same for the running kernel (/proc/cmdline, /proc/config.gz); "" when
// either cannot be read.
std::string RunningKernelImaAlgorithm();

// "<algo>:<hex>" of the contents of `path`, for the algorithms Tetragon
// renders (md5, sha1, sha256, sha512, sm3). Errors: INVALID_ARGUMENT for
// another algorithm, FAILED_PRECONDITION for a file larger than `max_bytes`
// or not a regular file, the errno of open/read otherwise.
absl::StatusOr<std::string> ImaFileHash(const std::string& path, const std::string& algo, uint64_t max_bytes);

struct ImaHasherOptions {
  std::string algo;                   // "": no hashing (events go out as they are)
  size_t max_queued = 256;            // events waiting for a hash; more go out without one
  uint64_t max_bytes = 256ull << 20;  // larger files are not hashed
  size_t cache_entries = 1024;        // (path, inode version) -> hash
};

class ImaHasher {
 public:
  using Publish = std::function<void(tetragon::GetEventsResponse)>;
  struct Stats {
    uint64_t hashed = 0, cached = 0, failed = 0, dropped = 0;  // dropped: queue full, sent without a hash
  };

  ImaHasher(ImaHasherOptions opts, Publish publish);
  ~ImaHasher();  // sends what is queued, without hashes, then stops the worker

  // Queues a process_lsm event to get the hash of `path` in its ima_hash,
  // then be published. When hashing is off or the queue is full the event
  // is published at once, as it is.
  void Submit(const std::string& path, tetragon::GetEventsResponse event);

  Stats stats() const;

 private:
  void Run();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); }
  std::string HashOf(const std::string& path);

  const ImaHasherOptions opts_;
  const Publish publish_;
  mutable absl::Mutex mu_;
  std::deque<std::pair<std::string, tetragon::GetEventsResponse>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  // (path, dev, ino, size, mtime ns, ctime ns) -> "<algo>:<hex>" (worker only).
  std::map<std::tuple<std::string, uint64_t, uint64_t, int64_t, int64_t, int64_t>, std::string> cache_;
  std::thread worker_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_IMAHASH_IMA_HASH_H_
