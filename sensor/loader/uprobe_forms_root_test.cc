// End to end with uprobes on a test binary (testdata/usdt_target.c), for the
// forms of spec.uprobes beyond symbols: `offsets` (file offsets), `addrs`
// (virtual addresses) and `refCtrOffsets` (the kernel counts the attached
// probes in the binary's semaphore), against both loaders.
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/elf_file.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

// The virtual address of symbol `name` in the ELF at `path` (0: not found).
uint64_t SymbolAddr(const std::string& path, const char* name) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  elf_version(EV_CURRENT);
  Elf* e = elf_begin(fd, ELF_C_READ, nullptr);
  uint64_t addr = 0;
  for (Elf_Scn* scn = e ? elf_nextscn(e, nullptr) : nullptr; scn && !addr; scn = elf_nextscn(e, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(d, static_cast<int>(i), &sym)) continue;
      const char* n = elf_strptr(e, sh.sh_link, sym.st_name);
      if (n && strcmp(n, name) == 0) addr = sym.st_value;
    }
  }
  if (e) elf_end(e);
  close(fd);
  return addr;
}

class UprobeFormsRootTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pod = testing::FilterWithPod("a", "uforms-a");
    ASSERT_TRUE(pod.ok()) << pod.status();
    filter_ = std::move(pod->filter);
    cg_a_ = std::move(pod->cg);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend(GetParam(), &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    auto bin = testing::PrivateCopy("sensor/loader/testdata/usdt_target", "tgd-uforms-target");  // uprobes attach to its inode only
    ASSERT_TRUE(bin.ok()) << bin.status();
    bin_ = *bin;
    fn_addr_ = SymbolAddr(bin_, "tgd_target_fn");
    ASSERT_NE(fn_addr_, 0u);
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    if (!bin_.empty()) unlink(bin_.c_str());
  }

  absl::Status Load(const std::string& name, const std::string& where, uint32_t filter_id = 2) {
    std::string yaml = absl::StrCat(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: )", name, R"(
spec:
  podSelector:
    matchLabels:
      app: a
  uprobes:
  - path: ")", bin_, "\"\n", where, R"(    args:
    - index: 0
      type: int
)");
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    TGD_ASSIGN_OR_RETURN(std::unique_ptr<LoadedPolicy> p, backend_->Load(doc, filter_id, PolicyMode::kEnforce));
    policies_.push_back(std::move(p));
    return absl::OkStatus();
  }

  // Runs the target for 3 iterations in pod-a; returns its exit code.
  int Run() {
    auto pid = cg_a_->Spawn({bin_, "3"});
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return -1;
    auto st = testing::WaitChild(*pid);
    return st.ok() && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  }

  // The first argument of each process_uprobe event of `policy`.
  std::vector<int> Args(const std::string& policy) {
    while (backend_->PollOnce(50) > 0) {
    }
    std::vector<int> out;
    EventBus::Event ev;
    while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
      if (!ev->has_process_uprobe() || ev->process_uprobe().policy_name() != policy) continue;
      out.push_back(ev->process_uprobe().args(0).int_arg());
    }
    return out;
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_a_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  std::string bin_;
  uint64_t fn_addr_ = 0;
};

TEST_P(UprobeFormsRootTest, OffsetsProbeAFileOffset) {
  int fd = open(bin_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto off = ElfFileOffsetOfAddr(fd, fn_addr_, "test");
  close(fd);
  ASSERT_TRUE(off.ok()) << off.status();
  ASSERT_TRUE(Load("uprobe-offsets", absl::StrCat("    offsets: [", *off, "]\n")).ok());
  EXPECT_EQ(Run(), 0);
  EXPECT_EQ(Args("uprobe-offsets"), (std::vector<int>{0, 1, 2}));
}

TEST_P(UprobeFormsRootTest, AddrsProbeAVirtualAddress) {
  absl::Status s = Load("uprobe-addrs", absl::StrCat("    addrs: [", fn_addr_, "]\n"));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Run(), 0);
  EXPECT_EQ(Args("uprobe-addrs"), (std::vector<int>{0, 1, 2}));
  // An address no segment maps is refused naming the field.
  s = Load("uprobe-bad-addr", "    addrs: [0x7fffffff0000]\n", 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("spec.uprobes[0].addrs"), std::string::npos) << s;
}

// The semaphore of USDT tgdtest:probe2 as a uprobe's reference counter: the
// kernel increments it while the probe is attached; the target sees it set
// (exit code 3).
TEST_P(UprobeFormsRootTest, RefCtrOffsetsSetTheSemaphore) {
  int fd = open(bin_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto sites = ReadUsdtSites(fd, "test");
  close(fd);
  ASSERT_TRUE(sites.ok()) << sites.status();
  ASSERT_EQ(sites->size(), 1u);
  ASSERT_NE((*sites)[0].semaphore_offset, 0u);
  EXPECT_EQ(Run(), 0);  // no probe: the semaphore is 0
  ASSERT_TRUE(Load("uprobe-refctr", absl::StrCat("    symbols: [tgd_target_fn]\n    refCtrOffsets: [",
                                                 (*sites)[0].semaphore_offset, "]\n"))
                  .ok());
  EXPECT_EQ(Run(), 3);
  EXPECT_EQ(Args("uprobe-refctr"), (std::vector<int>{0, 1, 2}));
}

// usdts: a uprobe at the probe site of the ELF note, with its semaphore
// (the target sees it set: exit code 3) and the arguments read as the note
// specifies them (-4@%eax, -8@%r12 here); events are process_usdt, as
// Tetragon renders them.
TEST_P(UprobeFormsRootTest, UsdtProbeWithSemaphoreAndArguments) {
  std::string yaml = absl::StrCat(R"(apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: usdt-probe2
spec:
  podSelector:
    matchLabels:
      app: a
  usdts:
  - path: ")", bin_, R"("
    provider: tgdtest
    name: probe2
    message: "probe2 fired"
    args:
    - index: 0
      type: int32
    - index: 1
      type: int64
)");
  auto doc = ParsePolicyDocument(yaml);
  ASSERT_TRUE(doc.ok()) << doc.status();
  auto p = backend_->Load(*doc, 2, PolicyMode::kEnforce);
  ASSERT_TRUE(p.ok()) << p.status();
  policies_.push_back(std::move(*p));
  EXPECT_EQ(Run(), 3);
  while (backend_->PollOnce(50) > 0) {
  }
  std::vector<std::pair<int, int64_t>> got;
  EventBus::Event ev;
  while (sub_->Next(&ev, absl::Now() + absl::Milliseconds(50))) {
    if (!ev->has_process_usdt()) continue;
    const tetragon::ProcessUsdt& u = ev->process_usdt();
    EXPECT_EQ(u.policy_name(), "usdt-probe2");
    EXPECT_EQ(u.provider(), "tgdtest");
    EXPECT_EQ(u.name(), "probe2");
    EXPECT_EQ(u.path(), bin_);
    EXPECT_EQ(u.message(), "probe2 fired");
    ASSERT_EQ(u.args_size(), 2);
    got.push_back({u.args(0).int_arg(), u.args(1).long_arg()});
  }
  EXPECT_EQ(got, (std::vector<std::pair<int, int64_t>>{{40, 7}, {41, 1007}, {42, 2007}}));

  // A probe the binary does not have, and an argument past the note's.
  std::string missing = absl::StrReplaceAll(yaml, {{"name: probe2", "name: nope"}, {"usdt-probe2", "usdt-nope"}});
  doc = ParsePolicyDocument(missing);
  ASSERT_TRUE(doc.ok());
  auto q = backend_->Load(*doc, 3, PolicyMode::kEnforce);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kNotFound) << q.status();
  std::string far = absl::StrReplaceAll(yaml, {{"index: 1", "index: 5"}, {"usdt-probe2", "usdt-far"}});
  doc = ParsePolicyDocument(far);
  ASSERT_TRUE(doc.ok());
  q = backend_->Load(*doc, 4, PolicyMode::kEnforce);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << q.status();
  EXPECT_NE(q.status().message().find("spec.usdts[0].args[1].index"), std::string::npos) << q.status();
}

INSTANTIATE_TEST_SUITE_P(Loaders, UprobeFormsRootTest, ::testing::Values("dispatch", "per-policy"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param == "dispatch" ? std::string("Dispatch") : std::string("PerPolicy");
                         });

}  // namespace
}  // namespace tgd
