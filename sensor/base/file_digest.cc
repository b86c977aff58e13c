// See file_digest.h.
#include "sensor/base/file_digest.h"

#include <unistd.h>

#include <cerrno>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tgd {

absl::StatusOr<std::string> DigestOfFd(int fd, const EVP_MD* md, uint64_t max_bytes) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return absl::InternalError("EVP_DigestInit_ex failed");
  char buf[1 << 16];
  uint64_t at = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof(buf), static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "reading for a digest");
    if (n == 0) break;
    at += static_cast<uint64_t>(n);
    if (at > max_bytes) return absl::FailedPreconditionError(absl::StrCat("more than ", max_bytes, " bytes"));
    if (EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(n)) != 1) {
      return absl::InternalError("EVP_DigestUpdate failed");
    }
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out, &len) != 1) return absl::InternalError("EVP_DigestFinal_ex failed");
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace tgd
