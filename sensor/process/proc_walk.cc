// /proc reader for processes that predate the sensor.
#include "sensor/process/proc_walk.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tgd {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ReadLink(const std::string& path) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink(path, ec);
  return ec ? "" : target.string();
}

uint64_t Hex(absl::string_view s) {
  uint64_t v = 0;
  absl::SimpleHexAtoi(absl::StripAsciiWhitespace(s), &v);
  return v;
}

uint64_t ClockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint32_t NsInum(const std::string& link) {
  // "uts:[4026531838]"
  size_t a = link.find('['), b = link.find(']');
  uint32_t v = 0;
  if (a != std::string::npos && b != std::string::npos) {
    absl::SimpleAtoi(link.substr(a + 1, b - a - 1), &v);
  }
  return v;
}

}  // namespace

std::string JoinArguments(const char* argv, size_t len) {
  // argv[1..] joined by spaces: drop trailing NULs (empty trailing parts)
  // and argv[0], then every separating NUL becomes a space.
  while (len > 0 && argv[len - 1] == '\0') --len;
  const void* nul = memchr(argv, '\0', len);
  if (nul == nullptr) return "";
  const char* begin = static_cast<const char*>(nul) + 1;
  std::string out(begin, argv + len);
  std::replace(out.begin(), out.end(), '\0', ' ');
  return out;
}

std::optional<ExecRecord> ReadProcProcess(const std::string& root, uint32_t pid) {
  // Before anything is read: what follows is the process at this time or later.
  const uint64_t observed_ns = ClockNs(CLOCK_MONOTONIC);
  const uint64_t boot_minus_mono = ClockNs(CLOCK_BOOTTIME) - observed_ns;
  std::string dir = root + "/" + std::to_string(pid);
  std::string stat = Slurp(dir + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  // Fields after "comm)": state(3) ppid(4) ... starttime(22).
  std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
  if (f.size() < 20) return std::nullopt;
  ExecRecord r;
  r.pid = r.tid = pid;
  absl::SimpleAtoi(f[1], &r.ppid);
  uint64_t start_ticks = 0;
  absl::SimpleAtoi(f[19], &start_ticks);
  // starttime counts CLOCK_BOOTTIME ticks; ring records carry CLOCK_MONOTONIC
  // ns. Shifted by the time spent suspended so far, it is at or before the
  // process's monotonic start (a record of the process is never older).
  const uint64_t start_boot_ns =
      start_ticks * (1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
  r.ktime = start_boot_ns > boot_minus_mono ? start_boot_ns - boot_minus_mono : 0;
  r.observed_ns = observed_ns;
  std::string cmdline = Slurp(dir + "/cmdline");
  if (cmdline.empty()) return std::nullopt;  // kernel thread (or a zombie)
  r.binary = ReadLink(dir + "/exe");
  r.arguments = JoinArguments(cmdline.data(), cmdline.size());
  r.cwd = ReadLink(dir + "/cwd");
  r.flags = "procFS";
  std::istringstream status(Slurp(dir + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (kv.size() != 2) continue;
    std::vector<std::string> v = absl::StrSplit(absl::StripAsciiWhitespace(kv[1]), '\t', absl::SkipEmpty());
    if (kv[0] == "Uid" && v.size() >= 2) {
      absl::SimpleAtoi(v[0], &r.uid);
      absl::SimpleAtoi(v[1], &r.euid);
    } else if (kv[0] == "Gid" && v.size() >= 2) {
      absl::SimpleAtoi(v[0], &r.gid);
      absl::SimpleAtoi(v[1], &r.egid);
    } else if (kv[0] == "NSpid" && !v.empty()) {
      absl::SimpleAtoi(v.back(), &r.nspid);  // the innermost pid namespace's
    } else if (kv[0] == "CapPrm") {
      r.cap_permitted = Hex(kv[1]);
    } else if (kv[0] == "CapEff") {
      r.cap_effective = Hex(kv[1]);
    } else if (kv[0] == "CapInh") {
      r.cap_inheritable = Hex(kv[1]);
    }
  }
  absl::SimpleAtoi(absl::StripAsciiWhitespace(Slurp(dir + "/loginuid")), &r.auid);
  const char* ns_names[] = {"uts", "ipc", "mnt", "pid", "pid_for_children", "net",
                            "time", "time_for_children", "cgroup", "user"};
  for (const char* n : ns_names) r.ns.push_back(NsInum(ReadLink(dir + "/ns/" + n)));
  return r;
}

std::vector<ExecRecord> ReadProcProcesses(const std::string& root) {
  std::vector<ExecRecord> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    uint32_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    if (auto r = ReadProcProcess(root, pid); r.has_value()) out.push_back(*std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const ExecRecord& a, const ExecRecord& b) {
    return a.ktime != b.ktime ? a.ktime < b.ktime : a.pid < b.pid;
  });
  return ParentsFirst(std::move(out));
}

std::vector<ExecRecord> ParentsFirst(std::vector<ExecRecord> records) {
  // A child forked in the same clock tick as its parent has the same
  // starttime, and the ktimes derived from it can sort either way: move each
  // record's listed ancestors before it, keeping the order otherwise.
  absl::flat_hash_map<uint32_t, size_t> index;
  for (size_t i = 0; i < records.size(); ++i) index.emplace(records[i].pid, i);
  std::vector<bool> placed(records.size(), false);
  std::vector<ExecRecord> out;
  out.reserve(records.size());
  std::vector<size_t> chain;
  for (size_t i = 0; i < records.size(); ++i) {
    chain.clear();
    for (size_t j = i; !placed[j];) {
      placed[j] = true;
      chain.push_back(j);
      auto parent = index.find(records[j].ppid);
      if (parent == index.end()) break;
      j = parent->second;
    }
    for (auto k = chain.rbegin(); k != chain.rend(); ++k) out.push_back(std::move(records[*k]));
  }
  return out;
}

}  // namespace tgd
