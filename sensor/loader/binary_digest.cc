// binaryDigests (see binary_digest.h): libcrypto's EVP digests over pread,
// the build id from the ELF's notes through libelf.
#include "sensor/loader/binary_digest.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "sensor/base/file_digest.h"

namespace tgd {
namespace {

constexpr absl::string_view kMismatch = "digest verification failed for path";

absl::StatusOr<std::string> BuildId(int fd) {
  elf_version(EV_CURRENT);
  std::unique_ptr<Elf, decltype(&elf_end)> e(elf_begin(fd, ELF_C_READ_MMAP, nullptr), &elf_end);
  if (!e || elf_kind(e.get()) != ELF_K_ELF) return absl::InvalidArgumentError("not an ELF file");
  for (Elf_Scn* scn = elf_nextscn(e.get(), nullptr); scn; scn = elf_nextscn(e.get(), scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    if (!d) continue;
    GElf_Nhdr nh;
    size_t off = 0, name_off = 0, desc_off = 0;
    while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
      const char* name = static_cast<const char*>(d->d_buf) + name_off;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        return absl::BytesToHexString(
            absl::string_view(static_cast<const char*>(d->d_buf) + desc_off, nh.n_descsz));
      }
    }
  }
  return absl::InvalidArgumentError("the binary has no GNU build id note");
}

}  // namespace

absl::StatusOr<std::string> FileDigest(int fd, const std::string& algo) {
  if (algo == "build-id") return BuildId(fd);
  const EVP_MD* md = nullptr;
  if (algo == "sha256") md = EVP_sha256();
  else if (algo == "sha384") md = EVP_sha384();
  else if (algo == "sha512") md = EVP_sha512();
  else if (algo == "sha1") md = EVP_sha1();
  if (!md) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported digest algorithm \"", algo, "\" (sha256, sha384, sha512, sha1 or build-id)"));
  }
  absl::StatusOr<std::string> raw = DigestOfFd(fd, md);  // sensor/base/file_digest.h
  if (!raw.ok()) return raw.status();
  return absl::BytesToHexString(*raw);
}

absl::Status VerifyBinaryDigests(int fd, const std::vector<std::string>& digests, const std::string& field,
                                 const std::string& path) {
  if (digests.empty()) return absl::OkStatus();
  std::map<std::string, std::string> computed;  // algo -> digest
  for (size_t i = 0; i < digests.size(); ++i) {
    const std::string entry = absl::StrCat(field, ".binaryDigests[", i, "]");
    if (digests[i].empty()) return absl::OkStatus();  // as Tetragon: an empty entry matches anything
    absl::string_view d = absl::StripAsciiWhitespace(digests[i]);
    size_t colon = d.find(':');
    std::string algo, want;
    if (colon != absl::string_view::npos) {
      algo = absl::AsciiStrToLower(absl::StripAsciiWhitespace(d.substr(0, colon)));
      want = absl::AsciiStrToLower(absl::StripAsciiWhitespace(d.substr(colon + 1)));
    }
    if (algo.empty() || want.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(entry, ": \"", d, "\" is not a digest of the form <algo>:<hash> (e.g. sha256:...)"));
    }
    auto it = computed.find(algo);
    if (it == computed.end()) {
      absl::StatusOr<std::string> got = FileDigest(fd, algo);
      if (!got.ok()) return absl::Status(got.status().code(), absl::StrCat(entry, ": ", got.status().message()));
      it = computed.emplace(algo, *got).first;
    }
    if (it->second == want) return absl::OkStatus();
  }
  std::string got;
  for (const auto& [algo, hex] : computed) absl::StrAppend(&got, got.empty() ? "" : ", ", algo, ":", hex);
  return absl::FailedPreconditionError(
      absl::StrCat(field, ": ", kMismatch, " \"", path, "\" (the binary is ", got, ")"));
}

bool IsDigestMismatch(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition && absl::StrContains(s.message(), kMismatch);
}

}  // namespace tgd
