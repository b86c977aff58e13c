#include "bench/dispatch/bpf_accounting.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tgd::bench {
namespace {

constexpr char kStatsSysctl[] = "/proc/sys/kernel/bpf_stats_enabled";

// A "key: value" field of /proc/self/fdinfo/<fd>.
std::map<std::string, std::string> ReadFdinfo(int fd) {
  std::map<std::string, std::string> out;
  std::ifstream in(absl::StrCat("/proc/self/fdinfo/", fd));
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[line.substr(0, colon)] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return out;
}

uint64_t FieldU64(const std::map<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  uint64_t v = 0;
  if (it != f.end()) (void)absl::SimpleAtoi(it->second, &v);
  return v;
}

std::vector<int> OpenFds() {
  std::vector<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return fds;
  int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    int fd;
    if (absl::SimpleAtoi(e->d_name, &fd) && fd != self) fds.push_back(fd);
  }
  closedir(d);
  return fds;
}

std::string FdTarget(int fd) {
  char buf[256];
  ssize_t n = readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

bool IsMapInMap(uint32_t type) {
  return type == BPF_MAP_TYPE_HASH_OF_MAPS || type == BPF_MAP_TYPE_ARRAY_OF_MAPS;
}

bool IsPercpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

bool IsHashFamily(uint32_t type) {
  return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_HASH_OF_MAPS;
}

uint64_t RoundUp8(uint64_t x) { return (x + 7) & ~7ull; }

// The ids of the maps and programs reachable from this process.
struct Reachable {
  std::set<uint32_t> maps, inner_maps, progs;
};

// Values of a map-in-map or prog array as seen from user space are ids.
void CollectIds(int fd, const bpf_map_info& info, std::set<uint32_t>* out) {
  std::vector<char> key(info.key_size), next(info.key_size);
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    uint32_t id = 0;
    if (bpf_map_lookup_elem(fd, next.data(), &id) == 0 && id != 0) out->insert(id);
    key = next;
    prev = key.data();
  }
}

Reachable FindReachable() {
  Reachable r;
  for (int fd : OpenFds()) {
    std::string target = FdTarget(fd);
    if (target == "anon_inode:bpf-map") {
      uint64_t id = FieldU64(ReadFdinfo(fd), "map_id");
      if (id) r.maps.insert(id);
    } else if (target == "anon_inode:bpf-prog" || target == "anon_inode:bpf_link") {
      uint64_t id = FieldU64(ReadFdinfo(fd), "prog_id");
      if (id) r.progs.insert(id);
    }
  }
  // Inner maps and tail-call targets: reachable only through the kernel.
  std::vector<uint32_t> todo(r.maps.begin(), r.maps.end());
  while (!todo.empty()) {
    uint32_t id = todo.back();
    todo.pop_back();
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      if (IsMapInMap(info.type)) {
        std::set<uint32_t> inner;
        CollectIds(fd, info, &inner);
        for (uint32_t i : inner) {
          if (!r.maps.count(i) && r.inner_maps.insert(i).second) todo.push_back(i);
        }
      } else if (info.type == BPF_MAP_TYPE_PROG_ARRAY) {
        CollectIds(fd, info, &r.progs);
      }
    }
    close(fd);
  }
  return r;
}

// Bytes of a map that scale with the number of possible CPUs (an estimate
// from the kernel's own memory accounting formulas).
uint64_t PercpuBytes(const bpf_map_info& info, uint64_t memlock, int ncpu) {
  uint64_t b = 0;
  if (IsHashFamily(info.type)) b += 4ull * 8 * ncpu;  // the per-CPU bucket lock counters
  if (IsPercpu(info.type)) {
    uint64_t entries = info.max_entries;
    if (info.map_flags & BPF_F_NO_PREALLOC) {
      // Non-preallocated: only live elements count; bounded by memlock.
      return std::min<uint64_t>(memlock, b + RoundUp8(info.value_size) * ncpu * entries);
    }
    b += RoundUp8(info.value_size) * entries * ncpu;
  } else if ((info.type == BPF_MAP_TYPE_HASH || info.type == BPF_MAP_TYPE_LRU_HASH) &&
             !(info.map_flags & BPF_F_NO_PREALLOC)) {
    // Preallocated hashes keep one spare element per CPU.
    b += (48 + RoundUp8(info.key_size) + RoundUp8(info.value_size)) * ncpu;
  }
  return std::min(b, memlock);
}

volatile sig_atomic_t g_restore_value = 0;  // 0: nothing to restore
struct sigaction g_old_actions[32];
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGHUP};

void RestoreSysctlOnSignal(int sig) {
  char v = static_cast<char>(g_restore_value);
  if (v) {
    int fd = open(kStatsSysctl, O_WRONLY);
    if (fd >= 0) {
      (void)!write(fd, &v, 1);
      close(fd);
    }
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

bool WriteSysctl(char v) {
  int fd = open(kStatsSysctl, O_WRONLY);
  if (fd < 0) return false;
  bool ok = write(fd, &v, 1) == 1;
  close(fd);
  return ok;
}

}  // namespace

uint64_t BpfFootprint::TotalAt(int cpus, int possible_cpus) const {
  if (possible_cpus <= 0) return total();
  return total() - percpu_map_bytes + percpu_map_bytes * cpus / possible_cpus;
}

uint64_t BpfFootprint::TotalWithout(const std::vector<std::string>& names) const {
  uint64_t t = total();
  for (const std::string& n : names) {
    auto it = bytes_by_map_name.find(n);
    if (it != bytes_by_map_name.end()) t -= it->second;
  }
  return t;
}

absl::StatusOr<BpfFootprint> MeasureFootprint() {
  Reachable r = FindReachable();
  BpfFootprint f;
  int ncpu = libbpf_num_possible_cpus();
  std::set<uint32_t> all = r.maps;
  all.insert(r.inner_maps.begin(), r.inner_maps.end());
  for (uint32_t id : all) {
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;  // freed meanwhile
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      uint64_t memlock = FieldU64(ReadFdinfo(fd), "memlock");
      f.map_bytes += memlock;
      f.percpu_map_bytes += PercpuBytes(info, memlock, ncpu);
      f.maps++;
      if (r.inner_maps.count(id)) f.inner_maps++;
      f.maps_by_type[info.type]++;
      f.bytes_by_map_name[info.name] += memlock;
    }
    close(fd);
  }
  for (uint32_t id : r.progs) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      f.prog_jited_bytes += info.jited_prog_len;
      f.prog_xlated_bytes += info.xlated_prog_len;
      f.progs++;
    }
    close(fd);
  }
  return f;
}

std::map<uint32_t, ProgRunStats> ReadProgRunStats() {
  std::map<uint32_t, ProgRunStats> out;
  Reachable r = FindReachable();
  for (uint32_t id : r.progs) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      out[id] = {info.name, info.run_time_ns, info.run_cnt};
    }
    close(fd);
  }
  return out;
}

int CountOpenFds() { return static_cast<int>(OpenFds().size()); }

char ReadBpfStatsEnabled() {
  std::ifstream in(kStatsSysctl);
  char c = 0;
  in >> c;
  return c;
}

absl::StatusOr<std::unique_ptr<BpfStatsGuard>> BpfStatsGuard::Enable() {
  char old = ReadBpfStatsEnabled();
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd >= 0) return std::unique_ptr<BpfStatsGuard>(new BpfStatsGuard(fd, old));
  if (old == 0) return absl::FailedPreconditionError(absl::StrCat("cannot read ", kStatsSysctl));
  g_restore_value = old;
  struct sigaction sa {};
  sa.sa_handler = RestoreSysctlOnSignal;
  for (int sig : kSignals) sigaction(sig, &sa, &g_old_actions[sig]);
  if (!WriteSysctl('1')) {
    int err = errno;
    g_restore_value = 0;
    for (int sig : kSignals) sigaction(sig, &g_old_actions[sig], nullptr);
    return absl::PermissionDeniedError(absl::StrCat("writing 1 to ", kStatsSysctl, ": ", strerror(err)));
  }
  return std::unique_ptr<BpfStatsGuard>(new BpfStatsGuard(-1, old));
}

BpfStatsGuard::~BpfStatsGuard() {
  if (fd_ >= 0) {
    close(fd_);
    return;
  }
  WriteSysctl(old_);
  g_restore_value = 0;
  for (int sig : kSignals) sigaction(sig, &g_old_actions[sig], nullptr);
}

}  // namespace tgd::bench
