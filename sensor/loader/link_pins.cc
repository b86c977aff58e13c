// LinkPins implementation.
#include "sensor/loader/link_pins.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <glog/logging.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {
namespace {

// The generation numbers under `bpf_dir`, ascending.
std::vector<uint64_t> GenerationNumbers(const std::string& bpf_dir) {
  std::vector<uint64_t> out;
  DIR* d = opendir(bpf_dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    absl::string_view name = e->d_name;
    uint64_t n = 0;
    if (absl::ConsumePrefix(&name, kGenerationPrefix) && absl::SimpleAtoi(name, &n)) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinkPins>> LinkPins::Create(const std::string& bpf_dir) {
  std::vector<uint64_t> gens = GenerationNumbers(bpf_dir);
  uint64_t next = gens.empty() ? 1 : gens.back() + 1;
  std::string dir = absl::StrCat(bpf_dir, "/", kGenerationPrefix, next);
  if (mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus(errno, absl::StrCat("creating ", dir));
  return std::unique_ptr<LinkPins>(new LinkPins(std::move(dir)));
}

absl::Status LinkPins::Pin(int fd, const std::string& name) {
  std::string path = absl::StrCat(dir_, "/", name);
  unlink(path.c_str());
  if (bpf_obj_pin(fd, path.c_str()) != 0) return ErrnoStatus(errno, absl::StrCat("pinning ", path));
  return absl::OkStatus();
}

void LinkPins::Unpin(const std::string& name) { unlink(absl::StrCat(dir_, "/", name).c_str()); }

void LinkPins::RemoveAll() {
  DIR* d = opendir(dir_.c_str());
  if (d) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      unlink(absl::StrCat(dir_, "/", name).c_str());
    }
    closedir(d);
  }
  rmdir(dir_.c_str());
}

std::vector<std::string> ListGenerations(const std::string& bpf_dir) {
  std::vector<std::string> out;
  for (uint64_t n : GenerationNumbers(bpf_dir)) out.push_back(absl::StrCat(bpf_dir, "/", kGenerationPrefix, n));
  return out;
}

size_t RetireGenerations(const std::vector<std::string>& dirs) {
  std::vector<FileDescriptor> held;
  size_t removed = 0;
  for (const std::string& dir : dirs) {
    DIR* d = opendir(dir.c_str());
    if (!d) continue;
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    closedir(d);
    for (const std::string& name : names) {
      std::string path = absl::StrCat(dir, "/", name);
      // Held open past the unlink: the detaches (grace periods) then overlap
      // below instead of running one per unlink.
      FileDescriptor fd(bpf_obj_get(path.c_str()));
      if (unlink(path.c_str()) == 0) ++removed;
      if (fd.valid()) held.push_back(std::move(fd));
    }
    if (rmdir(dir.c_str()) != 0) PLOG(WARNING) << "removing " << dir;
  }
  constexpr size_t kThreads = 32;
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(kThreads, held.size()); ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < held.size(); i = next++) held[i].Reset();
    });
  }
  for (std::thread& t : threads) t.join();
  return removed;
}

}  // namespace tgd
