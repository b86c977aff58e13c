// UnixListener implementation.
#include "sensor/server/unix_listener.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "sensor/base/errno_status.h"

namespace tgd {
namespace {

absl::Status PathError(const std::string& path, int err, absl::string_view what) {
  return ErrnoStatus(err, absl::StrCat("unix socket ", path, ": ", what));
}

// Removes a socket nothing listens on (left by a run that was killed).
absl::Status RemoveStaleSocket(const std::string& path, const sockaddr_un& sa) {
  struct stat sb;
  if (lstat(path.c_str(), &sb) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return PathError(path, errno, "lstat");
  }
  if (!S_ISSOCK(sb.st_mode)) {
    return absl::AlreadyExistsError(
        absl::StrCat("unix socket ", path, ": a file that is not a socket is there; refusing to replace it"));
  }
  FileDescriptor probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return PathError(path, errno, "socket");
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("unix socket ", path, ": another server is listening on it"));
  }
  if (errno != ECONNREFUSED) return PathError(path, errno, "probing the socket already there");
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return PathError(path, errno, "removing a stale socket");
  LOG(INFO) << "removed the stale socket " << path;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<UnixListener>> UnixListener::Create(const std::string& path, mode_t mode,
                                                                   std::optional<gid_t> gid) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("unix socket \"", path, "\": want an absolute path"));
  }
  if (path.size() >= sizeof(sa.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("unix socket \"", path, "\": longer than ",
                                                   sizeof(sa.sun_path) - 1, " bytes"));
  }
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  absl::Status st = RemoveStaleSocket(path, sa);
  if (!st.ok()) return st;

  auto l = std::unique_ptr<UnixListener>(new UnixListener());
  l->fd_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l->fd_.valid()) return PathError(path, errno, "socket");
  if (bind(l->fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return PathError(path, errno, "bind");
  }
  // From here the path is ours: the destructor removes it on any error.
  struct stat sb;
  if (lstat(path.c_str(), &sb) != 0) return PathError(path, errno, "lstat after bind");
  l->path_ = path;
  l->dev_ = sb.st_dev;
  l->ino_ = sb.st_ino;
  // Not connectable until listen(): the mode and group are right first.
  if (gid && lchown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    return PathError(path, errno, absl::StrCat("chown to group ", *gid));
  }
  if (chmod(path.c_str(), mode) != 0) return PathError(path, errno, "chmod");
  if (listen(l->fd_.get(), SOMAXCONN) != 0) return PathError(path, errno, "listen");
  l->stop_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!l->stop_.valid()) return ErrnoStatus(errno, "eventfd");
  return l;
}

void UnixListener::StartAccepting(std::function<void(int fd)> on_accept) {
  on_accept_ = std::move(on_accept);
  thread_ = std::thread([this] { AcceptLoop(); });
}

void UnixListener::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      PLOG(ERROR) << "unix socket " << path_ << ": poll";
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int c = accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      // Out of fds or memory: back off rather than spin.
      PLOG(WARNING) << "unix socket " << path_ << ": accept";
      pollfd s = {stop_.get(), POLLIN, 0};
      if (poll(&s, 1, 100) > 0) return;
      continue;
    }
    on_accept_(c);
  }
}

void UnixListener::Stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(stop_.get(), &one, sizeof(one)) < 0) PLOG(ERROR) << "eventfd write";
    thread_.join();
  }
}

UnixListener::~UnixListener() {
  Stop();
  fd_.Reset();
  if (path_.empty()) return;
  struct stat sb;
  if (lstat(path_.c_str(), &sb) != 0) return;  // already gone
  if (!S_ISSOCK(sb.st_mode) || sb.st_dev != dev_ || sb.st_ino != ino_) {
    LOG(WARNING) << path_ << " is no longer the socket this process created: left in place";
    return;
  }
  if (unlink(path_.c_str()) != 0) PLOG(WARNING) << "removing " << path_;
}

}  // namespace tgd
