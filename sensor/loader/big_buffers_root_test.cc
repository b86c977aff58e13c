// Buffers beyond the event record, end to end on syscall tracepoints: a
// char_buf on sys_enter_write and a char_iovec on sys_enter_writev of 100 B
// to 400 KB, read as far as Tetragon reads them (4095 bytes, up to 327,360
// with maxData; char_iovec: 7 iovecs of at most 4094 bytes) and compared
// byte for byte in the rendered event; and a ring buffer too small for a
// buffer's chunks: the event still arrives, without that argument, as
// Tetragon leaves out a data event it cannot complete. (returnCopy of a long
// buffer on a uretprobe: retprobe_root_test.)
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"
#include "sensor/loader/loader_test_rig.h"
#include "sensor/policymgr/policy_document.h"
#include "sensor/testing/cgroup.h"

namespace tgd {
namespace {

using testing::TestCgroup;

// Byte i of a test buffer of seed s (not periodic in 240, 4095 or 32736).
std::string Pattern(size_t n, int s) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 7 + i / 251 + s) & 0xff);
  return out;
}

class BigBuffersRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    if (std::string why = testing::SyscallTracepointsSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pod = testing::FilterWithPod("bigbuf", "bigbuf");
    ASSERT_TRUE(pod.ok()) << pod.status();
    filter_ = std::move(pod->filter);
    cg_ = std::move(pod->cg);
    sub_ = bus_.Subscribe(100000);
    dir_ = absl::StrCat("/tmp/tgd-bigbuf-", getpid());
    std::filesystem::create_directories(dir_);
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  void StartBackend(DispatchOptions o = {}) {
    auto be = testing::CreateTestBackend("dispatch", &bus_, filter_.get(), std::move(o));
    ASSERT_TRUE(be.ok()) << be.status();
    args_.reset();  // it collects from the backend it was made with
    backend_ = std::move(*be);
  }

  absl::Status Load(const std::string& name, const std::string& hooks) {
    std::string yaml = absl::StrCat("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ", name,
                                    "\nspec:\n  podSelector:\n    matchLabels:\n      app: bigbuf\n", hooks);
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    TGD_ASSIGN_OR_RETURN(auto p, backend_->Load(doc, next_filter_id_++, PolicyMode::kEnforce));
    policies_.push_back(std::move(p));
    return absl::OkStatus();
  }

  // A policy on `event` whose fd argument (index 5) is the file `path`.
  std::string Hook(const std::string& event, const std::string& buf_args, const std::string& path) {
    return absl::StrCat("  tracepoints:\n  - subsystem: syscalls\n    event: ", event,
                        "\n    args:\n    - index: 5\n      type: fd\n", buf_args,
                        "    selectors:\n    - matchArgs:\n      - index: 5\n        operator: Equal\n        values: [\"",
                        path, "\"]\n");
  }

  void Run(std::function<int()> fn) { testing::RunInCgroupExpectExit0(*cg_, std::move(fn)); }

  const std::vector<std::vector<tetragon::KprobeArgument>>& Events(const std::string& name) {
    if (!args_) args_ = std::make_unique<testing::TracepointArgsByPolicy>(backend_.get(), sub_.get());
    return args_->Of(name);
  }

  EventBus bus_;
  std::unique_ptr<EventBus::Subscription> sub_;
  std::unique_ptr<PolicyFilterState> filter_;
  std::unique_ptr<TestCgroup> cg_;
  std::unique_ptr<DispatchBackend> backend_;
  std::vector<std::unique_ptr<LoadedPolicy>> policies_;
  uint32_t next_filter_id_ = 2;
  std::string dir_;
  std::unique_ptr<testing::TracepointArgsByPolicy> args_;
};

const std::string kCharBuf = "    - index: 6\n      type: char_buf\n      sizeArgIndex: 8\n";
const std::string kCharBufMaxData = "    - index: 6\n      type: char_buf\n      sizeArgIndex: 8\n      maxData: true\n";

// One write of each size; two policies on the same events, one with
// maxData. Tetragon's tracepoint events carry the bytes it read as a plain
// bytes_arg.
TEST_F(BigBuffersRootTest, CharBufOnSysEnterWriteAsFarAsTetragonReadsIt) {
  StartBackend();
  const std::string file = dir_ + "/written";
  ASSERT_TRUE(Load("buf-default", Hook("sys_enter_write", kCharBuf, file)).ok());
  ASSERT_TRUE(Load("buf-maxdata", Hook("sys_enter_write", kCharBufMaxData, file)).ok());
  const std::vector<size_t> sizes = {100, 4095, 4096, 5 * 1024, 300 * 1024, 400 * 1024};
  Run([&] {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0) return 2;
    for (size_t i = 0; i < sizes.size(); ++i) {
      std::string b = Pattern(sizes[i], static_cast<int>(i));
      if (write(fd, b.data(), b.size()) != static_cast<ssize_t>(b.size())) return 3;
    }
    close(fd);
    return 0;
  });
  const auto& def = Events("buf-default");
  const auto& max = Events("buf-maxdata");
  ASSERT_EQ(def.size(), sizes.size());
  ASSERT_EQ(max.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("write of ", sizes[i], " bytes"));
    const std::string all = Pattern(sizes[i], static_cast<int>(i));
    ASSERT_EQ(def[i].size(), 2u);
    ASSERT_EQ(max[i].size(), 2u);
    EXPECT_EQ(def[i][1].bytes_arg().size(), std::min<size_t>(sizes[i], TGD_BUF_DEFAULT));
    EXPECT_TRUE(def[i][1].bytes_arg() == all.substr(0, TGD_BUF_DEFAULT)) << "bytes differ";
    EXPECT_EQ(max[i][1].bytes_arg().size(), std::min<size_t>(sizes[i], TGD_DATA_MAX));
    EXPECT_TRUE(max[i][1].bytes_arg() == all.substr(0, TGD_DATA_MAX)) << "bytes differ";
  }
  // Every chunk was joined and handed over.
  EXPECT_EQ(backend_->chunks_for_test().entries(), 0u);
  EXPECT_EQ(backend_->chunks_for_test().stats().lost, 0u);
}

// char_iovec as Tetragon: 7 iovecs at most, each at most 4094 bytes (a
// longer one makes the argument CharBufErrorBufTooLarge), all joined.
TEST_F(BigBuffersRootTest, CharIovecOnSysEnterWritev) {
  StartBackend();
  const std::string file = dir_ + "/vectored";
  ASSERT_TRUE(Load("iov", Hook("sys_enter_writev", "    - index: 6\n      type: char_iovec\n      sizeArgIndex: 8\n", file)).ok());
  const std::string a = Pattern(3000, 1), b = Pattern(4094, 2), c = Pattern(2000, 3);
  const std::string small = Pattern(90, 4);
  const std::string huge = Pattern(5000, 5);
  Run([&] {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0) return 2;
    iovec three[3] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()},
                      {const_cast<char*>(c.data()), c.size()}};
    if (writev(fd, three, 3) != static_cast<ssize_t>(a.size() + b.size() + c.size())) return 3;
    iovec nine[9];
    for (int i = 0; i < 9; ++i) nine[i] = {const_cast<char*>(small.data()) + 10 * i, 10};
    if (writev(fd, nine, 9) != 90) return 4;
    iovec two[2] = {{const_cast<char*>(small.data()), 10}, {const_cast<char*>(huge.data()), huge.size()}};
    if (writev(fd, two, 2) != static_cast<ssize_t>(10 + huge.size())) return 5;
    close(fd);
    return 0;
  });
  const auto& ev = Events("iov");
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(ev[0][1].bytes_arg() == a + b + c) << ev[0][1].bytes_arg().size();
  EXPECT_EQ(ev[1][1].bytes_arg(), small.substr(0, 70));
  EXPECT_EQ(ev[2][1].bytes_arg(), "CharBufErrorBufTooLarge");
}

// A ring buffer too small for a 32 KB chunk: the chunk cannot be reserved,
// the event still comes, without the buffer argument (as Tetragon leaves out
// a data event it cannot complete); smaller buffers of later events are
// whole.
TEST_F(BigBuffersRootTest, ARingBufferTooSmallLeavesTheBufferOut) {
  DispatchOptions o;
  o.events_ring_bytes = 16384;
  StartBackend(std::move(o));
  const std::string file = dir_ + "/lossy";
  ASSERT_TRUE(Load("lossy", Hook("sys_enter_write", kCharBufMaxData + "    - index: 7\n      type: size_t\n", file)).ok());
  const std::string big = Pattern(300 * 1024, 1), mid = Pattern(3000, 2);
  Run([&] {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0) return 2;
    if (write(fd, big.data(), big.size()) != static_cast<ssize_t>(big.size())) return 3;
    if (write(fd, mid.data(), mid.size()) != static_cast<ssize_t>(mid.size())) return 4;
    close(fd);
    return 0;
  });
  const auto& ev = Events("lossy");
  ASSERT_EQ(ev.size(), 2u);
  ASSERT_EQ(ev[0].size(), 2u);  // fd and size: the buffer is left out
  EXPECT_TRUE(ev[0][0].has_file_arg());
  EXPECT_EQ(ev[0][1].size_arg(), big.size());
  ASSERT_EQ(ev[1].size(), 3u);
  EXPECT_TRUE(ev[1][1].bytes_arg() == mid);
  EXPECT_EQ(backend_->chunks_for_test().stats().lost, 1u);
}

}  // namespace
}  // namespace tgd
