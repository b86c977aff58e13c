// imaHash in user space (see ima_hash.h).
#include "sensor/imahash/ima_hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sensor/base/file_digest.h"

namespace tgd {
namespace {

// IMA's names (crypto/hash_info.c) of the algorithms Tetragon renders, and
// OpenSSL's.
const char* OpenSslName(const std::string& algo) {
  if (algo == "md5") return "MD5";
  if (algo == "sha1") return "SHA1";
  if (algo == "sha256") return "SHA256";
  if (algo == "sha512") return "SHA512";
  if (algo == "sm3") return "SM3";
  return nullptr;
}

std::string ReadGzip(const char* path) {
  gzFile f = gzopen(path, "rb");
  if (f == nullptr) return "";
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0 && out.size() < (16u << 20)) out.append(buf, n);
  gzclose(f);
  return out;
}

int64_t Ns(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

}  // namespace

std::string ImaAlgorithmOf(absl::string_view cmdline, absl::string_view kernel_config) {
  bool ima = false;
  std::string def;
  for (absl::string_view line : absl::StrSplit(kernel_config, '\n')) {
    if (line == "CONFIG_IMA=y") ima = true;
    if (absl::ConsumePrefix(&line, "CONFIG_IMA_DEFAULT_HASH="))
      def = std::string(absl::StripPrefix(absl::StripSuffix(line, "\""), "\""));
  }
  if (!ima) return "";
  for (absl::string_view w : absl::StrSplit(cmdline, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&w, "ima_hash=")) return std::string(w);
  }
  return def;
}

std::string RunningKernelImaAlgorithm() {
  std::ifstream in("/proc/cmdline");
  std::stringstream cmdline;
  cmdline << in.rdbuf();
  return ImaAlgorithmOf(cmdline.str(), ReadGzip("/proc/config.gz"));
}

absl::StatusOr<std::string> ImaFileHash(const std::string& path, const std::string& algo, uint64_t max_bytes) {
  const char* name = OpenSslName(algo);
  const EVP_MD* md = name ? EVP_get_digestbyname(name) : nullptr;
  if (md == nullptr) return absl::InvalidArgumentError(absl::StrCat("hash algorithm \"", algo, "\" is not supported"));
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return absl::Status(absl::ErrnoToStatusCode(errno), absl::StrCat("open ", path, ": ", strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > max_bytes) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, ": not a regular file of at most ", max_bytes, " bytes"));
  }
  absl::StatusOr<std::string> raw = DigestOfFd(fd, md, max_bytes);  // sensor/base/file_digest.h
  close(fd);
  if (raw.status().code() == absl::StatusCode::kFailedPrecondition) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": grew past ", max_bytes, " bytes"));
  }
  if (!raw.ok()) return absl::Status(raw.status().code(), absl::StrCat("read ", path, ": ", raw.status().message()));
  return absl::StrCat(algo, ":", absl::BytesToHexString(*raw));
}

ImaHasher::ImaHasher(ImaHasherOptions opts, Publish publish) : opts_(std::move(opts)), publish_(std::move(publish)) {
  if (!opts_.algo.empty()) worker_ = std::thread([this] { Run(); });
}

ImaHasher::~ImaHasher() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

void ImaHasher::Submit(const std::string& path, tetragon::GetEventsResponse event) {
  if (!opts_.algo.empty()) {
    absl::MutexLock l(&mu_);
    if (!stop_ && queue_.size() < opts_.max_queued) {
      queue_.emplace_back(path, std::move(event));
      return;
    }
    ++stats_.dropped;
  }
  publish_(std::move(event));
}

ImaHasher::Stats ImaHasher::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

std::string ImaHasher::HashOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "";
  auto key = std::make_tuple(path, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                             static_cast<int64_t>(st.st_size), Ns(st.st_mtim), Ns(st.st_ctim));
  if (auto it = cache_.find(key); it != cache_.end()) {
    absl::MutexLock l(&mu_);
    ++stats_.cached;
    return it->second;
  }
  absl::StatusOr<std::string> h = ImaFileHash(path, opts_.algo, opts_.max_bytes);
  absl::MutexLock l(&mu_);
  if (!h.ok()) {
    ++stats_.failed;
    return "";
  }
  ++stats_.hashed;
  if (cache_.size() >= opts_.cache_entries) cache_.clear();
  cache_[key] = *h;
  return *h;
}

void ImaHasher::Run() {
  for (;;) {
    std::pair<std::string, tetragon::GetEventsResponse> job;
    bool stopping;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(this, &ImaHasher::Ready));
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      stopping = stop_;
    }
    // At shutdown what is left goes out without hashes.
    if (!stopping) {
      std::string h = HashOf(job.first);
      if (!h.empty()) job.second.mutable_process_lsm()->set_ima_hash(h);
    }
    publish_(std::move(job.second));
  }
}

}  // namespace tgd
