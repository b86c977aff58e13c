// RotatingFile: an append-only file of whole lines, rotated by size with a
// bounded number of backups, named as Tetragon's export (lumberjack) names
// them: `<dir>/<stem>-<UTC YYYY-MM-DDTHH-MM-SS.mmm><ext>`, e.g.
// tetragon.log -> tetragon-2024-11-23T10-00-00.123.log. A line is never split
// across two files.
#ifndef TGDISPATCH_SENSOR_EXPORT_ROTATING_FILE_H_
#define TGDISPATCH_SENSOR_EXPORT_ROTATING_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {

struct RotatingFileOptions {
  std::string path;
  // Rotate before a line would take the file past this size. 0 means
  // lumberjack's default, 100 MiB.
  uint64_t max_size_bytes = 10ull << 20;
  // Rotated files kept (oldest removed first). 0 keeps all, as lumberjack.
  int max_backups = 5;
  // Permissions of the file and of every new file after rotation (set
  // exactly, whatever the umask). Tetragon's --export-file-perm default.
  mode_t mode = 0600;
  // Lines are buffered up to this many bytes between Flush() calls.
  size_t buffer_bytes = 64 << 10;
};

class RotatingFile {
 public:
  // Creates the parent directory (0755) and opens `path` for append, never
  // through a symlink (O_NOFOLLOW, also when reopening after a rotation).
  // Errors: INVALID_ARGUMENT (empty path, path is a directory),
  // FAILED_PRECONDITION (path is a symlink, not a regular file, or has
  // other hard links), or the errno of mkdir/open.
  static absl::StatusOr<std::unique_ptr<RotatingFile>> Open(RotatingFileOptions opts);
  ~RotatingFile();  // flushes

  // Appends one line (a '\n' is added). Rotates first when the line would
  // take the file past max_size_bytes and the file is not empty. A line
  // longer than the limit gets a file of its own. Errors: errno of
  // write/rename/open (the line is lost; the next call tries again).
  absl::Status AppendLine(absl::string_view line);
  // Writes buffered lines. Errors: errno of write.
  absl::Status Flush();

  uint64_t rotations() const { return rotations_; }
  const std::string& path() const { return opts_.path; }

  // The backup name for a rotation at `t` (UTC, millisecond precision).
  static std::string BackupName(absl::string_view path, absl::Time t);
  // Existing backups of `path`, oldest first.
  static std::vector<std::string> ListBackups(absl::string_view path);

 private:
  explicit RotatingFile(RotatingFileOptions opts) : opts_(std::move(opts)) {}
  // The backups with the times in their names, oldest first.
  static std::vector<std::pair<absl::Time, std::string>> ListBackupsByTime(absl::string_view path);
  absl::Status OpenCurrent();
  absl::Status Rotate();
  void PruneBackups();

  RotatingFileOptions opts_;
  FileDescriptor fd_;
  uint64_t size_ = 0;  // bytes on disk in the current file
  std::string buf_;
  uint64_t rotations_ = 0;
  absl::Time last_backup_ = absl::InfinitePast();  // time in the newest backup's name
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_EXPORT_ROTATING_FILE_H_
