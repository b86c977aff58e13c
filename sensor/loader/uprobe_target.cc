// OpenUprobeTarget implementation (open O_NONBLOCK, fstat, libelf header).
#include "sensor/loader/uprobe_target.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "sensor/base/errno_status.h"

namespace tgd {
namespace {

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

}  // namespace

absl::StatusOr<FileDescriptor> OpenUprobeTarget(const std::string& path, const std::string& field) {
  // The path as the policy gave it, quoted and cut (it may be anything).
  const std::string quoted = path.size() > 256
                                 ? absl::StrCat("\"", absl::CHexEscape(path.substr(0, 256)), "\"...")
                                 : absl::StrCat("\"", absl::CHexEscape(path), "\"");
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", quoted, ": ", why));
  };
  if (path.empty() || path[0] != '/') return invalid("want an absolute path to an ELF binary");
  // O_NONBLOCK: opening a FIFO (or some devices) for reading would otherwise
  // wait for a writer, forever.
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    int e = errno;
    struct stat st;
    // A unix socket cannot be opened (ENXIO): say what it is.
    if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      return invalid(absl::StrCat(FileKind(st.st_mode), ", not an ELF binary"));
    }
    return ErrnoStatus(e, absl::StrCat(field, ": ", quoted));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat(field, ": ", quoted));
  if (!S_ISREG(st.st_mode)) return invalid(absl::StrCat(FileKind(st.st_mode), ", not an ELF binary"));
  // A regular file: reads do not block, O_NONBLOCK can go.
  int flags = fcntl(fd.get(), F_GETFL);
  if (flags >= 0) fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  if (elf_version(EV_CURRENT) == EV_NONE) return absl::InternalError("libelf: version mismatch");
  Elf* elf = elf_begin(fd.get(), ELF_C_READ, nullptr);
  const bool is_elf = elf != nullptr && elf_kind(elf) == ELF_K_ELF;
  GElf_Ehdr ehdr;
  const bool header_ok = is_elf && gelf_getehdr(elf, &ehdr) != nullptr;
  const char* libelf_error = header_ok ? nullptr : elf_errmsg(-1);
  std::string why = libelf_error != nullptr ? libelf_error : "";
  if (elf != nullptr) elf_end(elf);
  if (!is_elf) return invalid("not an ELF file");
  if (!header_ok) return invalid(absl::StrCat("not a valid ELF file (", why, ")"));
  return fd;
}

}  // namespace tgd
