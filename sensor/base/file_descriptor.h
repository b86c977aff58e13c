// FileDescriptor: a move-only owner of one file descriptor.
//
// Never wrap a descriptor that another owner (libbpf, a skeleton) will close:
// Dup() it first.
#ifndef TGDISPATCH_SENSOR_BASE_FILE_DESCRIPTOR_H_
#define TGDISPATCH_SENSOR_BASE_FILE_DESCRIPTOR_H_

#include "absl/status/statusor.h"

namespace tgd {

class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { Reset(); }

  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.Release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  // Duplicates `fd` (O_CLOEXEC). Errors: the errno of fcntl(F_DUPFD_CLOEXEC).
  static absl::StatusOr<FileDescriptor> Dup(int fd);

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the owned descriptor (if any) and takes `fd`.
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BASE_FILE_DESCRIPTOR_H_
