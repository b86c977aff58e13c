// UnixListener: the API's unix socket, owned by this process: created with
// an exact mode and group whatever the umask, its connections accepted on a
// thread of its own and handed on (to gRPC, after their credentials are
// recorded), and on the way out removed only if the path still is the socket
// this process created (never a file that took its place, never someone
// else's socket or file at a path a failed start did not bind).
#ifndef TGDISPATCH_SENSOR_SERVER_UNIX_LISTENER_H_
#define TGDISPATCH_SENSOR_SERVER_UNIX_LISTENER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {

class UnixListener {
 public:
  // Binds `path` and sets its mode to exactly `mode` and its group to `gid`
  // (when set) before it listens, so no one connects while the mode is
  // wrong. A stale socket at `path` (nothing listening) is replaced.
  // Errors: INVALID_ARGUMENT (not absolute, too long), ALREADY_EXISTS (a
  // file that is not a socket, or a socket a server is listening on), or
  // the errno of socket/bind/chmod/chown/listen.
  static absl::StatusOr<std::unique_ptr<UnixListener>> Create(const std::string& path, mode_t mode,
                                                              std::optional<gid_t> gid);
  // Stop(), closes the socket and unlinks `path` if it is still the socket
  // Create bound (same st_dev/st_ino, a socket).
  ~UnixListener();

  // Calls on_accept(fd) for every connection (non-blocking, close-on-exec;
  // on_accept owns it) on a thread of its own until Stop().
  void StartAccepting(std::function<void(int fd)> on_accept);
  // Stops accepting and joins the thread: on_accept is not called after it
  // returns. Idempotent.
  void Stop();

  const std::string& path() const { return path_; }

 private:
  UnixListener() = default;
  void AcceptLoop();

  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  FileDescriptor fd_;
  FileDescriptor stop_;  // eventfd: written by Stop()
  std::function<void(int)> on_accept_;
  std::thread thread_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_SERVER_UNIX_LISTENER_H_
