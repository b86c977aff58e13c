// FileDescriptor implementation.
#include "sensor/base/file_descriptor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "sensor/base/errno_status.h"

namespace tgd {

absl::StatusOr<FileDescriptor> FileDescriptor::Dup(int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ErrnoStatus(errno, "fcntl(F_DUPFD_CLOEXEC)");
  return FileDescriptor(copy);
}

void FileDescriptor::Reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) close(fd_);
  fd_ = fd;
}

}  // namespace tgd
