// Kernel feature probes for the hook kinds (see features.h).
#include "sensor/loader/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tgd {
namespace {

// Loads and attaches an empty fentry program; "" when that works, else the
// kernel's reason.
std::string ProbeFentry() {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (vmlinux == nullptr) return "no kernel BTF (/sys/kernel/btf/vmlinux)";
  int id = -1;
  const char* func = nullptr;
  for (const char* f : {"bpf_fentry_test1", "do_sys_openat2", "vfs_read"}) {
    id = btf__find_by_name_kind(vmlinux, f, BTF_KIND_FUNC);
    if (id > 0) {
      func = f;
      break;
    }
  }
  btf__free(vmlinux);
  if (id <= 0) return "no probe function in the kernel BTF";
  struct bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
              .attach_btf_id = static_cast<__u32>(id));
  int prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "tgd_fentry_prb", "GPL", insns, 2, &opts);
  if (prog < 0) {
    int err = errno;
    return absl::StrCat("loading an fentry program on ", func, " failed: errno ", err, " (", strerror(err), ")");
  }
  int link = bpf_raw_tracepoint_open(nullptr, prog);
  int err = errno;
  close(prog);
  if (link < 0) {
    return absl::StrCat("attaching an fentry program to ", func, " failed: errno ", err,
                        err == 524 ? " (ENOTSUPP: no BPF trampoline on this kernel)" : absl::StrCat(" (", strerror(err), ")"));
  }
  close(link);
  return "";
}

}  // namespace

KernelFeatures KernelFeatures::Probe() {
  KernelFeatures f;
  struct stat st;
  f.kprobes = stat("/sys/bus/event_source/devices/kprobe/type", &st) == 0;
  f.uprobes = stat("/sys/bus/event_source/devices/uprobe/type", &st) == 0;
  f.tracepoints = stat("/sys/bus/event_source/devices/tracepoint/type", &st) == 0;
  std::ifstream lsm("/sys/kernel/security/lsm");
  std::stringstream ss;
  ss << lsm.rdbuf();
  for (absl::string_view name : absl::StrSplit(ss.str(), ',')) {
    if (absl::StripAsciiWhitespace(name) == "bpf") f.bpf_lsm = true;
  }
  f.fentry_error = ProbeFentry();
  f.fentry = f.fentry_error.empty();
  return f;
}

absl::Status CheckHookSupported(const KernelFeatures& f, const std::string& kind, const std::string& path) {
  auto missing = [&](absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": this kernel cannot attach ", kind, " programs: ", what));
  };
  if (kind == "kprobe" && !f.kprobes) {
    return missing("no kprobe PMU (/sys/bus/event_source/devices/kprobe; CONFIG_KPROBES/CONFIG_KPROBE_EVENTS off)");
  }
  if (kind == "uprobe" && !f.uprobes) return missing("no uprobe PMU (CONFIG_UPROBE_EVENTS off)");
  if (kind == "lsm" && !f.bpf_lsm) {
    return missing("BPF LSM is not active (\"bpf\" missing from /sys/kernel/security/lsm)");
  }
  if (kind == "tracepoint" && !f.tracepoints) return missing("no tracepoint PMU");
  if (kind == "fentry" && !f.fentry) return missing(f.fentry_error);
  return absl::OkStatus();
}

}  // namespace tgd
