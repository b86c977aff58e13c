// uprobes' binaryDigests, as Tetragon checks them before attaching: the
// traced binary (the descriptor the probe is attached through) must match
// one of the listed digests, "<algo>:<hex>" with algo sha256, sha384,
// sha512, sha1 or build-id (the ELF's GNU build id).
#ifndef TGDISPATCH_SENSOR_LOADER_BINARY_DIGEST_H_
#define TGDISPATCH_SENSOR_LOADER_BINARY_DIGEST_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tgd {

// The lowercase hex digest `algo` ("sha256", "sha384", "sha512", "sha1",
// "build-id") of the file open at `fd` (read with pread: the file offset is
// not moved). Errors: INVALID_ARGUMENT (unsupported algorithm, no build id),
// INTERNAL / the read's errno.
absl::StatusOr<std::string> FileDigest(int fd, const std::string& algo);

// OK when `digests` is empty or the file at `fd` matches one of them (each
// trimmed, case-insensitive; the digest of each algorithm computed once).
// Errors, each naming `field` (the hook, e.g. "spec.uprobes[0]"):
// INVALID_ARGUMENT naming `<field>.binaryDigests[i]` for an entry that is
// not "<algo>:<hex>" or has an unsupported algorithm (returned at once, as
// Tetragon), FAILED_PRECONDITION "<field>: digest verification failed for
// path \"<path>\"" when none matches (IsDigestMismatch), or the read error.
absl::Status VerifyBinaryDigests(int fd, const std::vector<std::string>& digests, const std::string& field,
                                 const std::string& path);

// Whether `s` is VerifyBinaryDigests' mismatch (what
// ignore.digestVerificationFailure skips).
bool IsDigestMismatch(const absl::Status& s);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_BINARY_DIGEST_H_
