// Kernel feature probes by trial: load and attach one minimal program per
// hook kind (bpf/features/features_probe.bpf.c) and keep the kernel's answer.
#include "sensor/loader/features.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bpf/features/features_probe.skel.h"
#include "sensor/bpfcore/bpf_owners.h"
#include "sensor/bpfcore/fs.h"

// The uprobe probes attach here (a function of this very file, found through
// /proc/self/maps, so a stripped binary works too).
extern "C" __attribute__((noinline, used)) int tgd_features_uprobe_target(int x) {
  asm volatile("" : "+r"(x));
  return x + 1;
}

namespace tgd {
namespace {

struct KindSpec {
  HookFeature feature;
  const char* name;
  const char* article;  // "a" / "an", for the messages
  const char* prog;     // program name in features_probe.bpf.c
  const char* target;   // attach target shown in the table
};

// Attach targets: functions and tracepoints present on every kernel the
// sensor supports (security_task_prctl exists with CONFIG_SECURITY, as
// Tetragon's own fentry probe assumes).
constexpr KindSpec kKinds[kNumHookFeatures] = {
    {HookFeature::kTracepoint, "tracepoint", "a", "tgd_probe_tracepoint", "sched/sched_process_exit"},
    {HookFeature::kRawTracepoint, "raw_tracepoint", "a", "tgd_probe_raw_tp", "sched_process_exit"},
    {HookFeature::kTpBtf, "tp_btf", "a", "tgd_probe_tp_btf", "sched_process_exit"},
    {HookFeature::kKprobe, "kprobe", "a", "tgd_probe_kprobe", "security_task_prctl"},
    {HookFeature::kKretprobe, "kretprobe", "a", "tgd_probe_kretprobe", "security_task_prctl"},
    {HookFeature::kUprobe, "uprobe", "an", "tgd_probe_uprobe", "tgd_features_uprobe_target"},
    {HookFeature::kUretprobe, "uretprobe", "an", "tgd_probe_uretprobe", "tgd_features_uprobe_target"},
    {HookFeature::kLsm, "lsm", "an", "tgd_probe_lsm", "file_open"},
    {HookFeature::kFentry, "fentry", "an", "tgd_probe_fentry", "security_task_prctl"},
    {HookFeature::kFexit, "fexit", "an", "tgd_probe_fexit", "security_task_prctl"},
};

// "EPERM (Operation not permitted)".
std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  return absl::StrCat(name ? name : absl::StrCat("errno ", err), " (", strerror(err), ")");
}

// The last non-empty line of a verifier log, bounded.
std::string LastLogLine(const std::string& log) {
  std::string last;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) last = std::string(line);
  }
  if (last.size() > 200) last = last.substr(0, 200) + "...";
  return last;
}

// The verifier's own reason in a log: its last line that is not one of the
// statistics lines it ends with ("processed N insns", "verification time",
// "stack depth"), bounded.
std::string VerifierReason(const std::string& log) {
  std::string last;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "processed ") || absl::StartsWith(line, "verification time") ||
        absl::StartsWith(line, "stack depth") || absl::StartsWith(line, "--")) {
      continue;
    }
    last = std::string(line);
  }
  if (last.size() > 200) last = last.substr(0, 200) + "...";
  return last;
}

// The file and file offset of the code at `addr`, from /proc/self/maps.
bool FileOffsetOf(uintptr_t addr, std::string* path, uint64_t* offset) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // start-end perms offset dev inode path
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 6) continue;
    std::vector<std::string> range = absl::StrSplit(f[0], '-');
    uint64_t start, end, off;
    if (range.size() != 2 || !absl::SimpleHexAtoi(range[0], &start) || !absl::SimpleHexAtoi(range[1], &end) ||
        !absl::SimpleHexAtoi(f[2], &off)) {
      continue;
    }
    if (addr < start || addr >= end || f[5].empty() || f[5][0] != '/') continue;
    *path = f[5];
    *offset = addr - start + off;
    return true;
  }
  return false;
}

FeatureProbe ProbeOne(const KindSpec& k) {
  FeatureProbe r;
  r.feature = k.feature;
  r.target = k.feature == HookFeature::kLsm || k.feature == HookFeature::kFentry ||
                     k.feature == HookFeature::kFexit || k.feature == HookFeature::kTpBtf
                 ? absl::StrCat(k.name, "/", k.target)
                 : k.target;
  auto fail = [&](const char* stage, int err, std::string reason) {
    r.available = false;
    r.stage = stage;
    r.err = err;
    r.reason = std::move(reason);
    return r;
  };
  LibbpfWarningCapture capture;
  Skeleton<features_probe> skel(features_probe::open());
  if (!skel) {
    int e = errno;
    return fail("load", e, absl::StrCat("opening the probe object: ", ErrnoText(e)));
  }
  bpf_program* prog = nullptr;
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) {
    bool mine = strcmp(bpf_program__name(p), k.prog) == 0;
    bpf_program__set_autoload(p, mine);
    if (mine) prog = p;
  }
  if (prog == nullptr) return fail("load", 0, absl::StrCat("the probe object has no program ", k.prog));
  std::string log(16 << 10, '\0');
  bpf_program__set_log_buf(prog, log.data(), log.size());
  bpf_program__set_log_level(prog, 1);
  int err = features_probe::load(skel.get());
  if (err) {
    err = -err;
    std::string why = absl::StrCat("loading ", k.article, " ", k.name, " program: ", ErrnoText(err));
    std::string verifier = LastLogLine(log.c_str());
    if (!verifier.empty()) absl::StrAppend(&why, ": ", verifier);
    return fail("load", err, why);
  }
  // Attach as the loaders do, then detach (the link's destructor).
  capture.Clear();
  BpfLink link;
  std::string where = absl::StrCat("attaching ", k.article, " ", k.name, " program to ", r.target);
  switch (k.feature) {
    case HookFeature::kTracepoint: {
      absl::StatusOr<std::string> tracefs = EnsureTracefs();
      if (!tracefs.ok()) return fail("attach", 0, absl::StrCat(where, ": tracefs: ", tracefs.status().message()));
      link.reset(bpf_program__attach_tracepoint(prog, "sched", "sched_process_exit"));
      break;
    }
    case HookFeature::kRawTracepoint:
      link.reset(bpf_program__attach_raw_tracepoint(prog, k.target));
      break;
    case HookFeature::kKprobe:
    case HookFeature::kKretprobe:
      link.reset(bpf_program__attach_kprobe(prog, k.feature == HookFeature::kKretprobe, k.target));
      break;
    case HookFeature::kUprobe:
    case HookFeature::kUretprobe: {
      std::string path;
      uint64_t offset = 0;
      if (!FileOffsetOf(reinterpret_cast<uintptr_t>(&tgd_features_uprobe_target), &path, &offset)) {
        return fail("attach", 0, absl::StrCat(where, ": its code is not in a mapped file"));
      }
      link.reset(
          bpf_program__attach_uprobe(prog, k.feature == HookFeature::kUretprobe, -1, path.c_str(), offset));
      break;
    }
    default:  // tp_btf, lsm, fentry, fexit: the target is in the program's BTF attach id
      link.reset(bpf_program__attach(prog));
      break;
  }
  if (!link) {
    int e = errno;
    std::string why = absl::StrCat(where, ": ", ErrnoText(e));
    if (!capture.lines().empty()) absl::StrAppend(&why, " (libbpf: ", capture.lines().back(), ")");
    return fail("attach", e, why);
  }
  if (k.feature == HookFeature::kLsm) {
    // An LSM program attaches whenever the BPF LSM is built in; it runs only
    // when the BPF LSM is also active. Open a file and see.
    skel->bss->tgd_probe_tgid = static_cast<uint32_t>(getpid());
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    if (__atomic_load_n(&skel->bss->tgd_probe_lsm_hits, __ATOMIC_RELAXED) == 0) {
      return fail("run", 0,
                  absl::StrCat("an lsm program attached to file_open did not run on a file open: the BPF LSM is "
                               "built in but not active (\"bpf\" is not in the kernel's lsm= list)"));
    }
  }
  r.available = true;
  return r;
}

// Loads program `prog` of the probe object alone (no attach): whether the
// kernel accepts what it does. `what` says it in the reason.
FeatureProbe ProbeLoadOnly(const char* prog_name, const char* what) {
  FeatureProbe r;
  r.feature = HookFeature::kUprobe;
  r.target = prog_name;
  LibbpfWarningCapture capture;
  Skeleton<features_probe> skel(features_probe::open());
  if (!skel) {
    r.stage = "load";
    r.err = errno;
    r.reason = absl::StrCat("opening the probe object: ", ErrnoText(r.err));
    return r;
  }
  bpf_program* prog = nullptr;
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) {
    bool mine = strcmp(bpf_program__name(p), prog_name) == 0;
    bpf_program__set_autoload(p, mine);
    if (mine) prog = p;
  }
  if (prog == nullptr) {
    r.stage = "load";
    r.reason = absl::StrCat("the probe object has no program ", prog_name);
    return r;
  }
  std::string log(16 << 10, '\0');
  bpf_program__set_log_buf(prog, log.data(), log.size());
  bpf_program__set_log_level(prog, 1);
  int err = features_probe::load(skel.get());
  if (err) {
    r.stage = "load";
    r.err = -err;
    r.reason = absl::StrCat("loading a uprobe program that ", what, ": ", ErrnoText(r.err));
    std::string verifier = VerifierReason(log.c_str());
    if (!verifier.empty()) absl::StrAppend(&r.reason, ": ", verifier);
    return r;
  }
  r.available = true;
  return r;
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

const char* HookFeatureName(HookFeature f) { return kKinds[static_cast<int>(f)].name; }

KernelFeatures KernelFeatures::ProbeNow() {
  InstallLibbpfLogging();
  KernelFeatures f;
  for (const KindSpec& k : kKinds) f.probes_.push_back(ProbeOne(k));
  f.uprobe_write_user_ = ProbeLoadOnly("tgd_probe_uprobe_write_user", "writes user memory (bpf_probe_write_user)");
  f.uprobe_write_regs_ = ProbeLoadOnly("tgd_probe_uprobe_write_regs", "stores to its pt_regs context");
  return f;
}

const KernelFeatures& KernelFeatures::Get() {
  static const KernelFeatures* const cached = new KernelFeatures(ProbeNow());
  return *cached;
}

KernelFeatures KernelFeatures::ForTesting(std::vector<FeatureProbe> probes) {
  KernelFeatures f;
  for (const KindSpec& k : kKinds) {
    FeatureProbe p;
    p.feature = k.feature;
    p.available = true;
    p.target = k.target;
    f.probes_.push_back(p);
  }
  for (FeatureProbe& p : probes) f.probes_[static_cast<int>(p.feature)] = std::move(p);
  f.uprobe_write_user_.available = f.uprobe_write_regs_.available = true;
  return f;
}

std::vector<std::string> KernelFeatures::Unavailable() const {
  std::vector<std::string> out;
  for (const FeatureProbe& p : probes_) {
    if (!p.available) out.push_back(absl::StrCat(HookFeatureName(p.feature), ": ", p.reason));
  }
  return out;
}

std::string KernelFeatures::FormatTable() const {
  std::string out = absl::StrFormat("%-15s %-9s %-42s %s\n", "HOOK KIND", "AVAILABLE", "PROBE", "REASON");
  for (const FeatureProbe& p : probes_) {
    absl::StrAppendFormat(&out, "%-15s %-9s %-42s %s\n", HookFeatureName(p.feature), p.available ? "yes" : "no",
                          p.target, p.reason);
  }
  return out;
}

std::string KernelFeatures::FormatJson() const {
  std::string out = "{\"features\": [";
  for (size_t i = 0; i < probes_.size(); ++i) {
    const FeatureProbe& p = probes_[i];
    out.append(i ? ",\n  {" : "\n  {");
    out.append("\"kind\": ");
    AppendJsonString(HookFeatureName(p.feature), &out);
    absl::StrAppend(&out, ", \"available\": ", p.available ? "true" : "false", ", \"target\": ");
    AppendJsonString(p.target, &out);
    if (!p.available) {
      out.append(", \"stage\": ");
      AppendJsonString(p.stage, &out);
      absl::StrAppend(&out, ", \"errno\": ", p.err);
      const char* name = p.err ? strerrorname_np(p.err) : nullptr;
      if (name) {
        out.append(", \"error\": ");
        AppendJsonString(name, &out);
      }
      out.append(", \"reason\": ");
      AppendJsonString(p.reason, &out);
    }
    out.append("}");
  }
  out.append("\n]}\n");
  return out;
}

absl::Status CheckHookSupported(const KernelFeatures& f, HookFeature feature, absl::string_view path) {
  const FeatureProbe& p = f.Of(feature);
  if (p.available) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(path, ": this kernel cannot run ", HookFeatureName(feature), " programs: ", p.reason));
}

}  // namespace tgd
