// LoaderSensor end to end: a child that dlopen()s a test shared library
// gives one process_loader event with the child's process (from the process
// cache), its parent, the library's path and the build id of its ELF note
// (read here with libelf); a second dlopen of the same file by the same
// process gives none (Tetragon's (pid, path) cache). Needs root
// (system-wide perf events).
#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sensor/loaderevents/loader_sensor.h"

namespace tgd {
namespace {

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The NT_GNU_BUILD_ID note of an ELF file, read with libelf ("" if none).
std::string ElfBuildId(const std::string& path) {
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  Elf* e = elf_begin(fd, ELF_C_READ, nullptr);
  for (Elf_Scn* scn = nullptr; e != nullptr && (scn = elf_nextscn(e, scn)) != nullptr && out.empty();) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_NOTE) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    size_t off = 0, name_off = 0, desc_off = 0;
    GElf_Nhdr nh;
    while (d != nullptr && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
      const char* base = static_cast<const char*>(d->d_buf);
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::string(base + name_off, 3) == "GNU") {
        out.assign(base + desc_off, nh.n_descsz);
        break;
      }
    }
  }
  if (e != nullptr) elf_end(e);
  close(fd);
  return out;
}

class LoaderSensorRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (system-wide perf events)";
    lib_ = absl::StrCat("/tmp/tgd-loader-test-", getpid(), ".so");
    std::filesystem::copy_file("sensor/loaderevents/libtgd_loader_test.so", lib_,
                               std::filesystem::copy_options::overwrite_existing);
  }
  void TearDown() override {
    if (!lib_.empty()) unlink(lib_.c_str());
  }
  std::string lib_;
};

TEST_F(LoaderSensorRootTest, DlopenGivesOneProcessLoaderEventWithTheBuildId) {
  const std::string want_id = ElfBuildId(lib_);
  ASSERT_EQ(want_id.size(), 20u) << "the test library is linked with --build-id=sha1";
  ProcessCache cache("node-a", 1000, 0);
  ExecRecord me;
  me.pid = getpid();
  me.tid = getpid();
  me.ppid = getppid();
  me.ktime = MonotonicNs();
  me.binary = "/test/parent";
  cache.AddExec(me);
  EventBus bus;
  auto sub = bus.Subscribe(10000);
  LoaderSensorOptions o;
  o.processes = &cache;
  o.bus = &bus;
  o.node_name = "node-a";
  o.hold = absl::Milliseconds(300);
  auto sensor = LoaderSensor::Create(o);
  if (!sensor.ok() && sensor.status().code() == absl::StatusCode::kFailedPrecondition) {
    GTEST_SKIP() << "the kernel has no build ids in perf mmap records: " << sensor.status();
  }
  ASSERT_TRUE(sensor.ok()) << sensor.status();

  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  pid_t child = fork();
  if (child == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    void* h = dlopen(lib_.c_str(), RTLD_NOW);
    if (h == nullptr) _exit(3);
    dlclose(h);
    h = dlopen(lib_.c_str(), RTLD_NOW);  // mapped again: no second event
    if (h == nullptr) _exit(4);
    if (write(done[1], "x", 1) != 1) _exit(5);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  ExecRecord ch;
  ch.pid = child;
  ch.tid = child;
  ch.ppid = getpid();
  ch.ktime = MonotonicNs();
  ch.binary = "/test/child";
  cache.AddExec(ch);  // before the child maps anything
  ASSERT_EQ(write(go[1], "g", 1), 1);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;

  // Waits for the event itself (bounded: a missing event fails, not hangs).
  std::vector<tetragon::ProcessLoader> got;
  EventBus::Event ev;
  for (absl::Time end = absl::Now() + absl::Seconds(10); absl::Now() < end;) {
    if (!sub->Next(&ev, absl::Now() + absl::Milliseconds(100))) {
      if (!got.empty()) break;
      continue;
    }
    if (ev->has_process_loader() && ev->process_loader().path() == lib_) got.push_back(ev->process_loader());
  }
  ASSERT_EQ(got.size(), 1u);
  const tetragon::ProcessLoader& l = got[0];
  EXPECT_EQ(l.process().pid().value(), static_cast<uint32_t>(child));
  EXPECT_EQ(l.process().binary(), "/test/child");
  EXPECT_EQ(l.parent().pid().value(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(absl::BytesToHexString(l.buildid()), absl::BytesToHexString(want_id));
  EXPECT_EQ(ev->node_name(), "node-a");
  sensor->reset();
}

}  // namespace
}  // namespace tgd
