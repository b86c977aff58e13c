// PolicyStore and StateDirLock implementation.
#include "sensor/statedir/policy_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "sensor/base/errno_status.h"
#include "sensor/policymgr/policy_document.h"

namespace tgd {
namespace {

constexpr char kFormatLine[] = "tgdispatch-policy-state: 1";
constexpr char kSuffix[] = ".policy";
constexpr size_t kMaxHeaderBytes = 4096;
constexpr size_t kMaxFileNameBytes = 200;  // well under NAME_MAX with the temp prefix

bool HasControl(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Bytes outside [A-Za-z0-9.-] as %XX ('_' separates namespace and name).
std::string Encode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '.' || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string FileNameOf(const std::string& ns, const std::string& name) {
  std::string base = absl::StrCat(Encode(ns), "_", Encode(name));
  if (base.size() > kMaxFileNameBytes) {
    // Very long names: a prefix and a hash of the whole (the header holds the real name).
    base = absl::StrCat(base.substr(0, kMaxFileNameBytes - 17), "~",
                        absl::Hex(Fnv1a(absl::StrCat(ns, "/", name)), absl::kZeroPad16));
  }
  return base + kSuffix;
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("writing ", path));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  FileDescriptor fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || fsync(fd.get()) != 0) return ErrnoStatus(errno, absl::StrCat("syncing ", dir));
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("creating ", dir));
  // Only root reads what was added (policies may name what a site guards).
  if (chmod(dir.c_str(), 0700) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", dir));
  return absl::OkStatus();
}

// Reads a regular file of at most `max` bytes without following a symlink
// or blocking on a FIFO.
absl::StatusOr<std::string> ReadBounded(const std::string& path, size_t max) {
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("opening ", path));
  struct stat sb;
  if (fstat(fd.get(), &sb) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", path));
  if (!S_ISREG(sb.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  if (static_cast<uint64_t>(sb.st_size) > max) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", sb.st_size, " bytes, more than the limit of ", max));
  }
  std::string text(static_cast<size_t>(sb.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

}  // namespace

std::string FormatPolicyFile(const PersistedPolicy& p) {
  return absl::StrCat(kFormatLine, "\nname: ", p.name, "\nnamespace: ", p.namespace_,
                      "\nenabled: ", p.enabled ? "true" : "false",
                      "\nmode: ", p.mode == PolicyMode::kMonitor ? "monitor" : "enforce", "\n---\n", p.yaml);
}

absl::StatusOr<PersistedPolicy> ParsePolicyFile(const std::string& text) {
  size_t sep = text.find("\n---\n");
  if (sep == std::string::npos || sep > kMaxHeaderBytes) {
    return absl::InvalidArgumentError("no header (want a \"---\" line after at most 4 KiB)");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(absl::string_view(text).substr(0, sep), '\n');
  if (lines.empty() || lines[0] != kFormatLine) {
    return absl::InvalidArgumentError(absl::StrCat("first line: want \"", kFormatLine, "\""));
  }
  PersistedPolicy p;
  bool have_name = false, have_enabled = false, have_mode = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view l = lines[i];
    if (absl::ConsumePrefix(&l, "name: ")) {
      p.name = std::string(l);
      have_name = !p.name.empty();
    } else if (absl::ConsumePrefix(&l, "namespace: ")) {
      p.namespace_ = std::string(l);
    } else if (l == "namespace:") {
      p.namespace_.clear();
    } else if (absl::ConsumePrefix(&l, "enabled: ")) {
      if (l != "true" && l != "false") return absl::InvalidArgumentError("enabled: want true or false");
      p.enabled = l == "true";
      have_enabled = true;
    } else if (absl::ConsumePrefix(&l, "mode: ")) {
      if (l != "enforce" && l != "monitor") return absl::InvalidArgumentError("mode: want enforce or monitor");
      p.mode = l == "monitor" ? PolicyMode::kMonitor : PolicyMode::kEnforce;
      have_mode = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("header line ", i + 1, ": unknown field"));
    }
  }
  if (!have_name) return absl::InvalidArgumentError("name: missing");
  if (!have_enabled) return absl::InvalidArgumentError("enabled: missing");
  if (!have_mode) return absl::InvalidArgumentError("mode: missing");
  p.yaml = text.substr(sep + 5);
  return p;
}

absl::StatusOr<std::unique_ptr<PolicyStore>> PolicyStore::Open(const std::string& dir) {
  if (dir.empty() || dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("\"", dir, "\": want an absolute path"));
  }
  std::string policies = dir + "/policies";
  if (absl::Status st = MakeDir(dir); !st.ok()) return st;
  if (absl::Status st = MakeDir(policies); !st.ok()) return st;
  return std::unique_ptr<PolicyStore>(new PolicyStore(std::move(policies)));
}

std::string PolicyStore::PathOf(const std::string& ns, const std::string& name) const {
  return absl::StrCat(policies_dir_, "/", FileNameOf(ns, name));
}

absl::Status PolicyStore::Save(const PersistedPolicy& p) {
  if (p.name.empty() || HasControl(p.name) || HasControl(p.namespace_)) {
    return absl::InvalidArgumentError("metadata.name/namespace: empty or holds a control character");
  }
  if (p.yaml.size() > kMaxPolicyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy is ", p.yaml.size(), " bytes; the limit is ", kMaxPolicyBytes));
  }
  const std::string file = FileNameOf(p.namespace_, p.name);
  const std::string path = absl::StrCat(policies_dir_, "/", file);
  const std::string tmp = absl::StrCat(policies_dir_, "/.tmp-", file);
  {
    FileDescriptor fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("creating ", tmp));
    absl::Status st = WriteAll(fd.get(), FormatPolicyFile(p), tmp);
    if (st.ok() && fsync(fd.get()) != 0) st = ErrnoStatus(errno, absl::StrCat("syncing ", tmp));
    if (!st.ok()) {
      unlink(tmp.c_str());
      return st;
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("renaming ", tmp, " to ", path));
  }
  return SyncDir(policies_dir_);
}

absl::Status PolicyStore::Remove(const std::string& ns, const std::string& name) {
  std::string path = PathOf(ns, name);
  if (unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("removing ", path));
  }
  return SyncDir(policies_dir_);
}

PolicyStore::Contents PolicyStore::LoadAll() const {
  Contents out;
  std::vector<std::string> names;
  if (DIR* d = opendir(policies_dir_.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (absl::StartsWith(n, ".tmp-")) {
        unlink(absl::StrCat(policies_dir_, "/", n).c_str());  // a write a crash interrupted
        continue;
      }
      if (absl::EndsWith(n, kSuffix)) names.push_back(std::move(n));
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    std::string path = absl::StrCat(policies_dir_, "/", n);
    absl::StatusOr<std::string> text = ReadBounded(path, kMaxPolicyBytes + kMaxHeaderBytes);
    if (!text.ok()) {
      out.errors.emplace_back(path, text.status());
      continue;
    }
    absl::StatusOr<PersistedPolicy> p = ParsePolicyFile(*text);
    if (!p.ok()) {
      out.errors.emplace_back(path, p.status());
      continue;
    }
    out.policies.push_back(*std::move(p));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<StateDirLock>> StateDirLock::Acquire(const std::string& dir) {
  if (absl::Status st = MakeDir(dir); !st.ok()) return st;
  std::string path = dir + "/daemon.lock";
  FileDescriptor fd(open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("opening ", path));
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": another tgdispatch daemon (pid ", HolderPid(dir), ") uses this state directory"));
    }
    return ErrnoStatus(errno, absl::StrCat("locking ", path));
  }
  std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    return ErrnoStatus(errno, absl::StrCat("writing ", path));
  }
  return std::unique_ptr<StateDirLock>(new StateDirLock(std::move(fd)));
}

int StateDirLock::HolderPid(const std::string& dir) {
  std::string path = dir + "/daemon.lock";
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return 0;
  if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return 0;  // nobody holds it
  char buf[32] = {0};
  ssize_t n = pread(fd.get(), buf, sizeof(buf) - 1, 0);
  int pid = 0;
  if (n > 0 && absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buf, n)), &pid) && pid > 0) return pid;
  return -1;  // held, pid unknown
}

absl::Status RemoveStateDir(const std::string& dir) {
  std::error_code ec;
  std::string policies = dir + "/policies";
  std::filesystem::remove_all(policies, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("removing ", policies));
  std::string lock = dir + "/daemon.lock";
  if (unlink(lock.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, absl::StrCat("removing ", lock));
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY) {
    return ErrnoStatus(errno, absl::StrCat("removing ", dir));
  }
  return absl::OkStatus();
}

}  // namespace tgd
