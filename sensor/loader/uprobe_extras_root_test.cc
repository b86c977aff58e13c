// End to end on a test binary (testdata/uprobe_extras_target.c), against both
// loaders: USDT arguments whose operand has an index register, uprobes'
// binaryDigests, Set on usdts (refused with the kernel's reason where the
// kernel cannot write the probed process), and i386 syscall list entries
// matching real 32-bit syscalls (int $0x80 from a 64-bit process) through
// Tetragon's Is32Bit flag on syscall64 values, and btfPath / btfType /
// resolve on a uprobe (the binary's types from a BTF file).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/elf_file.h"
#include "sensor/loader/features.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

class UprobeExtrasRootTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pod = testing::FilterWithPod("a", "uextras-a");
    ASSERT_TRUE(pod.ok()) << pod.status();
    filter_ = std::move(pod->filter);
    cg_a_ = std::move(pod->cg);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    auto bin = testing::PrivateCopy("sensor/loader/testdata/uprobe_extras_target", "tgd-uextras-target");  // uprobes attach to its inode only
    ASSERT_TRUE(bin.ok()) << bin.status();
    bin_ = *bin;
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    if (!bin_.empty()) unlink(bin_.c_str());
  }

  absl::Status Load(const std::string& name, const std::string& spec, uint32_t filter_id) {
    std::string yaml = absl::StrCat("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ", name,
                                    "\nspec:\n  podSelector:\n    matchLabels:\n      app: a\n", spec);
    absl::StatusOr<PolicyDocument> doc = ParsePolicyDocument(yaml);
    if (!doc.ok()) return doc.status();
    absl::StatusOr<std::unique_ptr<LoadedPolicy>> p = backend_->Load(*doc, filter_id, PolicyMode::kEnforce);
    if (!p.ok()) return p.status();
    policies_.push_back(std::move(*p));
    return absl::OkStatus();
  }

  // Runs the target in pod-a with `args`; returns its exit code.
  int Run(std::vector<std::string> args) {
    args.insert(args.begin(), bin_);
    auto pid = cg_a_->Spawn(args);
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return -1;
    auto st = testing::WaitChild(*pid);
    return st.ok() && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  }

  std::vector<EventBus::Event> Events() {
    while (backend_->PollOnce(50) > 0) {
    }
    std::vector<EventBus::Event> out;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) out.push_back(ev);
    return out;
  }

  std::string Usdt(const std::string& name, const std::string& rest) {
    return absl::StrCat("  usdts:\n  - path: \"", bin_, "\"\n    provider: tgdx\n    name: ", name, "\n", rest);
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  std::string bin_;
};

// tgdx:sib(arr[i % 8]): the compiler put the operand at a base register plus
// an index register times 4 ("-4@48(%rsp,%rdx,4)" here); the values are the
// array's elements 10, 11, 12.
TEST_P(UprobeExtrasRootTest, UsdtOperandWithAnIndexRegister) {
  int fd = open(bin_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto sites = ReadUsdtSites(fd, "test");
  close(fd);
  ASSERT_TRUE(sites.ok()) << sites.status();
  std::string spec;
  for (const UsdtSite& s : *sites) {
    if (s.name == "sib") spec = s.args;
  }
  ASSERT_NE(spec.find(','), std::string::npos) << "the compiler did not emit an index register: " << spec;
  absl::Status s = Load("usdt-sib", Usdt("sib", "    args:\n    - index: 0\n      type: int32\n"), 2);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Run({"usdt", "3"}), 1);
  std::vector<int> got;
  for (const EventBus::Event& ev : Events()) {
    if (!ev->has_process_usdt() || ev->process_usdt().policy_name() != "usdt-sib") continue;
    ASSERT_EQ(ev->process_usdt().args_size(), 1);
    got.push_back(ev->process_usdt().args(0).int_arg());
  }
  EXPECT_EQ(got, (std::vector<int>{10, 11, 12})) << "note operand " << spec;
}

// Set on a usdt: where the kernel refuses a uprobe program both ways of
// writing the probed process (bpf_probe_write_user under lockdown, pt_regs
// stores before kernels allowed them), the policy is refused naming the
// action, with the kernel's reasons; the target's value is untouched.
TEST_P(UprobeExtrasRootTest, SetIsRefusedWithTheKernelsReason) {
  const KernelFeatures& f = KernelFeatures::Get();
  absl::Status s = Load("usdt-set",
                        Usdt("set_mem", "    args:\n    - index: 0\n      type: int32\n    selectors:\n"
                                        "    - matchActions:\n      - action: Set\n        argIndex: 0\n"
                                        "        argValue: 32\n"),
                        2);
  if (f.UprobeWriteUser().available || f.UprobeWriteRegs().available) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;  // allowed here, but not built
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("spec.usdts[0].selectors[0].matchActions[0]: Set cannot run on this kernel"),
              std::string::npos)
        << s;
    EXPECT_NE(s.message().find(f.UprobeWriteUser().reason), std::string::npos) << s;
    EXPECT_NE(s.message().find(f.UprobeWriteRegs().reason), std::string::npos) << s;
    std::cout << "Set refused: " << s.message() << "\n";
  }
  EXPECT_EQ(Run({"usdt", "2"}), 1);
}

// The sha256 of `path` by the system's sha256sum (not by the code under test).
std::string Sha256Sum(const std::string& path) {
  std::string cmd = absl::StrCat("sha256sum '", path, "'");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  char buf[256] = {};
  std::string out = fgets(buf, sizeof(buf), p) ? buf : "";
  pclose(p);
  size_t sp = out.find(' ');
  return sp == std::string::npos ? "" : out.substr(0, sp);
}

// binaryDigests, as Tetragon: the uprobe is attached only when the binary
// matches one of the digests; a mismatch refuses the policy naming the hook,
// unless ignore.digestVerificationFailure, which leaves the hook unattached.
TEST_P(UprobeExtrasRootTest, BinaryDigestsGateTheAttach) {
  const std::string sha = Sha256Sum(bin_);
  ASSERT_EQ(sha.size(), 64u) << "sha256sum failed";
  auto uprobe = [&](const std::string& digests, const std::string& more = "") {
    return absl::StrCat("  uprobes:\n  - path: \"", bin_, "\"\n    symbols: [main]\n    binaryDigests: [", digests,
                        "]\n", more);
  };
  absl::Status s = Load("digest-ok", uprobe(absl::StrCat("\"sha256:00\", \"sha256:", sha, "\"")), 2);
  ASSERT_TRUE(s.ok()) << s;
  s = Load("digest-wrong", uprobe("\"sha256:0123\""), 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0]: digest verification failed for path"), std::string::npos) << s;
  s = Load("digest-bad", uprobe("\"sha256\""), 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0].binaryDigests[0]"), std::string::npos) << s;
  s = Load("digest-ignored", uprobe("\"sha256:0123\"", "    ignore:\n      digestVerificationFailure: true\n"), 5);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Run({"none"}), 64);
  EXPECT_EQ(Run({"none"}), 64);
  int ok = 0, ignored = 0;
  for (const EventBus::Event& ev : Events()) {
    if (!ev->has_process_uprobe()) continue;
    if (ev->process_uprobe().policy_name() == "digest-ok") ++ok;
    if (ev->process_uprobe().policy_name() == "digest-ignored") ++ignored;
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(ignored, 0);
}

// A syscall list with an i386 entry matches a real 32-bit getpid (int $0x80
// from a 64-bit process: number 20, in compat mode), and the x64 entry the
// 64-bit one (39); the values render as Tetragon's syscall_id with its ABI.
TEST_P(UprobeExtrasRootTest, I386SyscallListEntriesMatchCompatSyscalls) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the 32-bit syscall entry of this test is x86-64's int $0x80";
#endif
  auto policy = [](const std::string& value) {
    return absl::StrCat("  lists:\n  - name: sc\n    type: syscalls\n    values: [\"", value,
                        "\"]\n  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n    args:\n"
                        "    - index: 4\n      type: syscall64\n    selectors:\n    - matchArgs:\n"
                        "      - index: 4\n        operator: InMap\n        values: [\"list:sc\"]\n");
  };
  absl::Status s = Load("compat-i386", policy("i386/sys_getpid"), 2);
  ASSERT_TRUE(s.ok()) << s;
  s = Load("compat-x64", policy("sys_getpid"), 3);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Run({"compat", "3"}), 0);
  int i386 = 0, x64 = 0;
  for (const EventBus::Event& ev : Events()) {
    if (!ev->has_process_tracepoint()) continue;
    const tetragon::ProcessTracepoint& t = ev->process_tracepoint();
    ASSERT_EQ(t.args_size(), 1);
    const tetragon::SyscallId& id = t.args(0).syscall_id();
    if (t.policy_name() == "compat-i386") {
      EXPECT_EQ(id.id(), 20u);
      EXPECT_EQ(id.abi(), "i386");
      ++i386;
    } else if (t.policy_name() == "compat-x64") {
      EXPECT_EQ(id.id(), 39u);
      EXPECT_EQ(id.abi(), "x64");
      ++x64;
    }
  }
  EXPECT_EQ(i386, 3);
  EXPECT_GE(x64, 3);
}

// btfPath + btfType + resolve on a uprobe: tgdx_take(struct tgdx_outer *o)
// with the binary's types from a BTF file (pahole): o->in->deep (through a
// pointer), o->emb.name (an embedded char array), o->in->name, read from the
// probed process's memory.
TEST_P(UprobeExtrasRootTest, BtfPathResolvesFieldsOfAUserStruct) {
  const std::string btf = std::filesystem::absolute("sensor/loader/testdata/uprobe_extras_target.btf").string();
  auto uprobe = [&](const std::string& btf_path, const std::string& btf_type) {
    return absl::StrCat("  uprobes:\n  - path: \"", bin_, "\"\n    symbols: [tgdx_take]\n", btf_path, "    args:\n",
                        "    - index: 0\n      type: int32\n", btf_type, "      resolve: in.deep\n",
                        "    - index: 0\n      type: string\n", btf_type, "      resolve: emb.name\n",
                        "    - index: 0\n      type: string\n", btf_type, "      resolve: in.name\n");
  };
  const std::string path_line = absl::StrCat("    btfPath: \"", btf, "\"\n");
  const std::string type_line = "      btfType: tgdx_outer\n";
  absl::Status s = Load("uprobe-btf", uprobe(path_line, type_line), 2);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Run({"btf", "3"}), 0);
  std::vector<std::tuple<int, std::string, std::string>> got;
  for (const EventBus::Event& ev : Events()) {
    if (!ev->has_process_uprobe() || ev->process_uprobe().policy_name() != "uprobe-btf") continue;
    const tetragon::ProcessUprobe& u = ev->process_uprobe();
    ASSERT_EQ(u.args_size(), 3);
    got.emplace_back(u.args(0).int_arg(), u.args(1).string_arg(), u.args(2).string_arg());
  }
  EXPECT_EQ(got, (std::vector<std::tuple<int, std::string, std::string>>{{100, "embedded", "pointed-to"},
                                                                          {101, "embedded", "pointed-to"},
                                                                          {102, "embedded", "pointed-to"}}));
  // Refusals naming the field: no btfPath, no btfType, a type the file lacks,
  // a member the type lacks, a file that is not BTF.
  s = Load("uprobe-btf-nopath", uprobe("", type_line), 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0].args[0].resolve"), std::string::npos) << s;
  s = Load("uprobe-btf-notype", uprobe(path_line, ""), 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0].args[0].btfType"), std::string::npos) << s;
  s = Load("uprobe-btf-badtype", uprobe(path_line, "      btfType: no_such\n"), 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0].args[0].btfType"), std::string::npos) << s;
  s = Load("uprobe-btf-notbtf", uprobe(absl::StrCat("    btfPath: \"", bin_, ".none\"\n"), type_line), 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0].btfPath"), std::string::npos) << s;
}

// Array indexes in the path, Tetragon's forms: an element of an embedded
// array (vals[2]), through an array of pointers (ptrs[1].deep), and past a
// pointer (dyn[2]).
TEST_P(UprobeExtrasRootTest, BtfPathResolvesArrayIndexes) {
  const std::string btf = std::filesystem::absolute("sensor/loader/testdata/uprobe_extras_target.btf").string();
  absl::Status s = Load(
      "uprobe-btf-arrays",
      absl::StrCat("  uprobes:\n  - path: \"", bin_, "\"\n    symbols: [tgdx_take]\n    btfPath: \"", btf,
                   "\"\n    args:\n",
                   "    - index: 0\n      type: int32\n      btfType: tgdx_outer\n      resolve: vals[2]\n",
                   "    - index: 0\n      type: int32\n      btfType: tgdx_outer\n      resolve: ptrs[1].deep\n",
                   "    - index: 0\n      type: int64\n      btfType: tgdx_outer\n      resolve: dyn[2]\n"),
      2);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Run({"btf", "2"}), 0);
  std::vector<std::tuple<int, int, int64_t>> got;
  for (const EventBus::Event& ev : Events()) {
    if (!ev->has_process_uprobe() || ev->process_uprobe().policy_name() != "uprobe-btf-arrays") continue;
    const tetragon::ProcessUprobe& u = ev->process_uprobe();
    ASSERT_EQ(u.args_size(), 3);
    got.emplace_back(u.args(0).int_arg(), u.args(1).int_arg(), u.args(2).long_arg());
  }
  EXPECT_EQ(got, (std::vector<std::tuple<int, int, int64_t>>{{200, 100, 300}, {201, 101, 301}}));
}

// The same on a usdt: tgdx:outer(&outer), its argument a pointer to
// struct tgdx_outer of the btfPath file.
TEST_P(UprobeExtrasRootTest, BtfPathResolvesAUsdtArgument) {
  const std::string btf = std::filesystem::absolute("sensor/loader/testdata/uprobe_extras_target.btf").string();
  absl::Status s = Load("usdt-btf",
                        Usdt("outer", absl::StrCat("    btfPath: \"", btf, "\"\n    args:\n",
                                                   "    - index: 0\n      type: int32\n      btfType: tgdx_outer\n",
                                                   "      resolve: in.deep\n",
                                                   "    - index: 0\n      type: string\n      btfType: tgdx_outer\n",
                                                   "      resolve: emb.name\n")),
                        2);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Run({"btf", "2"}), 0);
  std::vector<std::pair<int, std::string>> got;
  for (const EventBus::Event& ev : Events()) {
    if (!ev->has_process_usdt() || ev->process_usdt().policy_name() != "usdt-btf") continue;
    ASSERT_EQ(ev->process_usdt().args_size(), 2);
    got.emplace_back(ev->process_usdt().args(0).int_arg(), ev->process_usdt().args(1).string_arg());
  }
  EXPECT_EQ(got, (std::vector<std::pair<int, std::string>>{{100, "embedded"}, {101, "embedded"}}));
}

INSTANTIATE_TEST_SUITE_P(Loaders, UprobeExtrasRootTest, ::testing::Values("dispatch", "per-policy"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "dispatch" ? std::string("Dispatch") : std::string("PerPolicy");
                         });

}  // namespace
}  // namespace tgd
