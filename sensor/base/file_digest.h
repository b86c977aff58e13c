// A message digest (OpenSSL's libcrypto, Debian libssl-dev) of a file open
// at a descriptor: what uprobes' binaryDigests and imaHash both compute.
#ifndef TGDISPATCH_SENSOR_BASE_FILE_DIGEST_H_
#define TGDISPATCH_SENSOR_BASE_FILE_DIGEST_H_

#include <openssl/evp.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace tgd {

// The raw digest with `md` of everything readable from `fd`, read with pread
// from offset 0 (the file offset is not moved). Errors: the read's errno
// ("reading for a digest: ..."), FAILED_PRECONDITION when the file holds
// more than `max_bytes`, INTERNAL when libcrypto fails.
absl::StatusOr<std::string> DigestOfFd(int fd, const EVP_MD* md, uint64_t max_bytes = UINT64_MAX);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BASE_FILE_DIGEST_H_
