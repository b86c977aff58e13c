// RotatingFile implementation.
#include "sensor/export/rotating_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sensor/base/errno_status.h"

namespace tgd {
namespace {

constexpr char kBackupTimeFormat[] = "%Y-%m-%dT%H-%M-%E3S";
constexpr uint64_t kDefaultMaxSize = 100ull << 20;

// Splits "/d/name.ext" into "/d/name" and ".ext" (as Go's filepath.Ext).
void SplitExt(absl::string_view path, absl::string_view* stem, absl::string_view* ext) {
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == absl::string_view::npos || (slash != absl::string_view::npos && dot < slash)) {
    *stem = path;
    *ext = "";
  } else {
    *stem = path.substr(0, dot);
    *ext = path.substr(dot);
  }
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write export file");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

std::string RotatingFile::BackupName(absl::string_view path, absl::Time t) {
  absl::string_view stem, ext;
  SplitExt(path, &stem, &ext);
  // %E3S is "SS.mmm": lumberjack's layout 2006-01-02T15-04-05.000.
  return absl::StrCat(stem, "-", absl::FormatTime(kBackupTimeFormat, t, absl::UTCTimeZone()), ext);
}

std::vector<std::pair<absl::Time, std::string>> RotatingFile::ListBackupsByTime(absl::string_view path) {
  absl::string_view stem, ext;
  SplitExt(path, &stem, &ext);
  std::filesystem::path p{std::string(path)};
  std::filesystem::path dir = p.parent_path().empty() ? "." : p.parent_path();
  std::string prefix = absl::StrCat(std::filesystem::path(std::string(stem)).filename().string(), "-");
  std::vector<std::pair<absl::Time, std::string>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, prefix) || !absl::EndsWith(name, ext)) continue;
    if (name.size() < prefix.size() + ext.size()) continue;
    std::string ts = name.substr(prefix.size(), name.size() - prefix.size() - ext.size());
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(kBackupTimeFormat, ts, absl::UTCTimeZone(), &t, &err)) continue;
    found.emplace_back(t, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<std::string> RotatingFile::ListBackups(absl::string_view path) {
  std::vector<std::string> out;
  for (auto& f : ListBackupsByTime(path)) out.push_back(std::move(f.second));
  return out;
}

absl::StatusOr<std::unique_ptr<RotatingFile>> RotatingFile::Open(RotatingFileOptions opts) {
  if (opts.path.empty()) return absl::InvalidArgumentError("export file: empty path");
  if (opts.max_size_bytes == 0) opts.max_size_bytes = kDefaultMaxSize;
  if (opts.max_backups < 0) opts.max_backups = 0;
  std::error_code ec;
  if (std::filesystem::is_directory(opts.path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("export file \"", opts.path, "\" is a directory"));
  }
  std::filesystem::path parent = std::filesystem::path(opts.path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("export file \"", opts.path, "\": cannot create ", parent.string(), ": ",
                       ec.message()));
    }
  }
  auto f = std::unique_ptr<RotatingFile>(new RotatingFile(std::move(opts)));
  std::vector<std::pair<absl::Time, std::string>> backups = ListBackupsByTime(f->opts_.path);
  if (!backups.empty()) f->last_backup_ = backups.back().first;
  absl::Status st = f->OpenCurrent();
  if (!st.ok()) return st;
  return f;
}

absl::Status RotatingFile::OpenCurrent() {
  // O_NOFOLLOW: a symlink planted at the path (now or before a rotation)
  // never redirects the events, or the chmod below, to its target.
  // O_NONBLOCK: a FIFO there cannot block the open.
  int fd = open(opts_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                opts_.mode);
  if (fd < 0) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("export file ", opts_.path, " is a symlink: refusing to follow it"));
    }
    if (errno == ENXIO) {  // a FIFO or socket nobody reads
      return absl::FailedPreconditionError(absl::StrCat("export file ", opts_.path, " is not a regular file"));
    }
    return ErrnoStatus(errno, absl::StrCat("open export file ", opts_.path));
  }
  FileDescriptor owner(fd);
  struct stat sb;
  if (fstat(fd, &sb) != 0) return ErrnoStatus(errno, absl::StrCat("fstat export file ", opts_.path));
  if (!S_ISREG(sb.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("export file ", opts_.path, " is not a regular file"));
  }
  if (sb.st_nlink > 1) {
    // Another name for someone else's file: appending and chmod would reach it.
    return absl::FailedPreconditionError(
        absl::StrCat("export file ", opts_.path, " has ", sb.st_nlink, " hard links: refusing to write to it"));
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  fchmod(fd, opts_.mode);  // exact permissions, whatever the umask
  size_ = static_cast<uint64_t>(sb.st_size);
  fd_ = std::move(owner);
  return absl::OkStatus();
}

absl::Status RotatingFile::Rotate() {
  fd_.Reset();
  // Backup names have millisecond precision and must sort by age, or
  // pruning deletes a new backup as the oldest: each is named at least a
  // millisecond after the one before (several rotations in one millisecond,
  // a clock stepping back), and never over an existing file.
  absl::Time t = std::max(absl::FromUnixMillis(absl::ToUnixMillis(absl::Now())),
                          last_backup_ + absl::Milliseconds(1));
  std::string backup = BackupName(opts_.path, t);
  struct stat sb;
  for (int i = 0; i < 1000 && lstat(backup.c_str(), &sb) == 0; ++i) {
    t += absl::Milliseconds(1);
    backup = BackupName(opts_.path, t);
  }
  if (rename(opts_.path.c_str(), backup.c_str()) != 0 && errno != ENOENT) {
    absl::Status st = ErrnoStatus(errno, absl::StrCat("rotate export file to ", backup));
    OpenCurrent().IgnoreError();
    return st;
  }
  ++rotations_;
  last_backup_ = t;
  absl::Status st = OpenCurrent();
  PruneBackups();
  return st;
}

void RotatingFile::PruneBackups() {
  if (opts_.max_backups <= 0) return;
  std::vector<std::string> backups = ListBackups(opts_.path);
  for (size_t i = 0; i + opts_.max_backups < backups.size(); ++i) unlink(backups[i].c_str());
}

absl::Status RotatingFile::AppendLine(absl::string_view line) {
  const uint64_t len = line.size() + 1;
  const uint64_t pending = size_ + buf_.size();
  if (pending > 0 && pending + len > opts_.max_size_bytes) {
    absl::Status st = Flush();
    if (!st.ok()) return st;
    st = Rotate();
    if (!st.ok()) return st;
  }
  if (!fd_.valid()) {
    absl::Status st = OpenCurrent();
    if (!st.ok()) return st;
  }
  buf_.append(line.data(), line.size());
  buf_.push_back('\n');
  if (buf_.size() >= opts_.buffer_bytes) return Flush();
  return absl::OkStatus();
}

absl::Status RotatingFile::Flush() {
  if (buf_.empty()) return absl::OkStatus();
  if (!fd_.valid()) {
    absl::Status st = OpenCurrent();
    if (!st.ok()) return st;
  }
  absl::Status st = WriteAll(fd_.get(), buf_);
  size_ += buf_.size();  // on a short write the size is approximate; lines stay whole in buf_ order
  buf_.clear();
  return st;
}

RotatingFile::~RotatingFile() { Flush().IgnoreError(); }

}  // namespace tgd
