// End to end on real kernel objects: Tetragon's argument types read by the
// datapath, matched by their operators and rendered as Tetragon's, on hooks
// this kernel attaches (tracepoints and raw tracepoints): linux_binprm on
// sched_process_exec, sock on inet_sock_set_state (real TCP over loopback),
// skb and net_device on net_dev_xmit (real UDP packets on lo), file on
// ext4_sync_file_enter (fsync) and dentry on ext4_unlink_enter (raw), fd
// and char_buf on syscalls/sys_enter_write, cred, user_namespace and
// capability on capability/cap_capable. Each
// policy is scoped to the test's own cgroup; each match has a twin that must
// not match.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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

class ArgTypesRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::RootTestSkipReason(); !why.empty()) GTEST_SKIP() << why;
    if (std::string why = testing::SyscallTracepointsSkipReason(); !why.empty()) GTEST_SKIP() << why;
    auto pod = testing::FilterWithPod("argt", "argt");
    ASSERT_TRUE(pod.ok()) << pod.status();
    filter_ = std::move(pod->filter);
    cg_ = std::move(pod->cg);
    sub_ = bus_.Subscribe(100000);
    auto be = testing::CreateTestBackend("dispatch", &bus_, filter_.get());
    ASSERT_TRUE(be.ok()) << be.status();
    backend_ = std::move(*be);
    dir_ = absl::StrCat("/tmp/tgd-argt-", getpid());
    std::filesystem::create_directories(dir_);
    bin_ = dir_ + "/true";
    std::filesystem::copy_file("/bin/true", bin_, std::filesystem::copy_options::overwrite_existing);
    chmod(bin_.c_str(), 0755);
  }

  void TearDown() override {
    policies_.clear();
    backend_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // Loads `hooks` (the spec's hook list, YAML) as policy `name` scoped to
  // the test's pod; returns the status.
  absl::Status Load(const std::string& name, const std::string& hooks) {
    std::string yaml = absl::StrCat("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ", name,
                                    "\nspec:\n  podSelector:\n    matchLabels:\n      app: argt\n", hooks);
    TGD_ASSIGN_OR_RETURN(PolicyDocument doc, ParsePolicyDocument(yaml));
    TGD_ASSIGN_OR_RETURN(auto p, backend_->Load(doc, next_filter_id_++, PolicyMode::kEnforce));
    policies_.push_back(std::move(p));
    return absl::OkStatus();
  }

  void Run(std::function<int()> fn) { testing::RunInCgroupExpectExit0(*cg_, std::move(fn)); }

  // The arguments of every event of policy `name` delivered so far (all
  // policies' events are collected at once).
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
  std::string dir_, bin_;
  std::unique_ptr<testing::TracepointArgsByPolicy> args_;
};

// A matchArgs hook of one argument: `op` with `values` (YAML list).
std::string Hook(const std::string& head, const std::string& args, int index, const std::string& op,
                 const std::string& values) {
  return absl::StrCat("  tracepoints:\n", head, "    args:\n", args, "    selectors:\n    - matchArgs:\n      - index: ",
                      index, "\n        operator: ", op, "\n", values.empty() ? "" : absl::StrCat("        values: ", values, "\n"));
}

TEST_F(ArgTypesRootTest, LinuxBinprmOnSchedProcessExec) {
  const std::string head = "  - subsystem: sched\n    event: sched_process_exec\n    raw: true\n";
  const std::string args = "    - index: 2\n      type: linux_binprm\n      label: bprm\n";
  ASSERT_TRUE(Load("bprm-eq", Hook(head, args, 2, "Equal", absl::StrCat("[\"", bin_, "\"]"))).ok());
  ASSERT_TRUE(Load("bprm-postfix", Hook(head, args, 2, "Postfix", "[\"/true\"]")).ok());
  ASSERT_TRUE(Load("bprm-other", Hook(head, args, 2, "Prefix", "[\"/nonexistent/\"]")).ok());
  std::string bin = bin_;
  Run([bin] {
    execl(bin.c_str(), bin.c_str(), nullptr);
    return 127;
  });
  const auto& eq = Events("bprm-eq");
  ASSERT_EQ(eq.size(), 1u);
  ASSERT_EQ(eq[0].size(), 1u);
  EXPECT_EQ(eq[0][0].label(), "");  // Tetragon's tracepoint events carry no labels
  EXPECT_EQ(eq[0][0].linux_binprm_arg().path(), bin_);
  EXPECT_EQ(eq[0][0].linux_binprm_arg().permission(), "-rwxr-xr-x");
  EXPECT_EQ(eq[0][0].linux_binprm_arg().flags(), "");
  EXPECT_EQ(Events("bprm-postfix").size(), 1u);
  EXPECT_EQ(Events("bprm-other").size(), 0u);
}

TEST_F(ArgTypesRootTest, ResolveFollowsBtfPathsFromTheArgument) {
  const std::string head = "  - subsystem: sched\n    event: sched_process_exec\n    raw: true\n";
  // linux_binprm -> file -> f_path.dentry -> d_name.name (a char *), and an int member.
  const std::string args =
      "    - index: 2\n      type: string\n      resolve: file.f_path.dentry.d_name.name\n"
      "    - index: 2\n      type: int\n      resolve: argc\n"
      "    - index: 0\n      type: string\n      resolve: comm\n"
      // btfType: the argument read as a pointer to the named kernel struct.
      "    - index: 0\n      type: string\n      btfType: task_struct\n      resolve: comm\n";
  ASSERT_TRUE(Load("res-name", Hook(head, args, 2, "Equal", "[\"true\"]") +
                                   "      - index: 2\n        operator: Prefix\n        values: [\"true\"]\n")
                  .ok());
  ASSERT_TRUE(Load("res-other", Hook(head, args, 2, "Equal", "[\"false\"]")).ok());
  auto bad = Load("res-bad", Hook(head, "    - index: 2\n      type: string\n      resolve: file.no_such_member\n", 2,
                                  "Equal", "[\"x\"]"));
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.message(), "spec.tracepoints[0].args[0].resolve")) << bad;
  std::string bin = bin_;
  Run([bin] {
    execl(bin.c_str(), bin.c_str(), "one-arg", nullptr);
    return 127;
  });
  const auto& ev = Events("res-name");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].size(), 4u);
  EXPECT_EQ(ev[0][0].string_arg(), "true");
  EXPECT_EQ(ev[0][1].int_arg(), 2);  // argv[0] and one argument
  EXPECT_EQ(ev[0][2].string_arg(), "true");  // the task's comm after exec
  EXPECT_EQ(ev[0][3].string_arg(), "true");  // the same through btfType
  EXPECT_EQ(Events("res-other").size(), 0u);
}

TEST_F(ArgTypesRootTest, SockOnInetSockSetStateOverLoopbackTcp) {
  // The listener is the test's (bound to a free port before the policies
  // are written); the child in the pod connects to it and accepts.
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(ls, 0);
  sockaddr_in la{};
  la.sin_family = AF_INET;
  la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t llen = sizeof(la);
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&la), sizeof(la)), 0);
  ASSERT_EQ(listen(ls, 4), 0);
  ASSERT_EQ(getsockname(ls, reinterpret_cast<sockaddr*>(&la), &llen), 0);
  const int port = ntohs(la.sin_port);
  const std::string head = "  - subsystem: sock\n    event: inet_sock_set_state\n";
  const std::string args = "    - index: 4\n      type: sock\n";
  const std::string dport = absl::StrCat("[\"", port, "\"]");
  ASSERT_TRUE(Load("sock-dport", Hook(head, args, 4, "DPort", dport)).ok());
  ASSERT_TRUE(Load("sock-dport-range", Hook(head, args, 4, "DPort", absl::StrCat("[\"", port - 1, ":", port + 1, "\"]"))).ok());
  ASSERT_TRUE(Load("sock-other-port", Hook(head, args, 4, "DPort", absl::StrCat("[\"", port + 7, "\"]"))).ok());
  ASSERT_TRUE(Load("sock-daddr", Hook(head, args, 4, "DAddr", "[\"127.0.0.0/8\"]") +
                                     absl::StrCat("      - index: 4\n        operator: DPort\n        values: ", dport, "\n"))
                  .ok());
  ASSERT_TRUE(Load("sock-not-daddr", Hook(head, args, 4, "NotDAddr", "[\"127.0.0.0/8\"]") +
                                         absl::StrCat("      - index: 4\n        operator: DPort\n        values: ", dport, "\n"))
                  .ok());
  ASSERT_TRUE(Load("sock-family-proto", Hook(head, args, 4, "Family", "[\"AF_INET\"]") +
                                            "      - index: 4\n        operator: Protocol\n        values: [\"IPPROTO_TCP\"]\n" +
                                            absl::StrCat("      - index: 4\n        operator: DPort\n        values: ", dport, "\n") +
                                            "      - index: 4\n        operator: NotDPortPriv\n")
                  .ok());
  ASSERT_TRUE(Load("sock-udp", Hook(head, args, 4, "Protocol", "[\"IPPROTO_UDP\"]")).ok());
  ASSERT_TRUE(Load("sock-priv", Hook(head, args, 4, "DPortPriv", "")).ok());
  Run([ls, la] {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<const sockaddr*>(&la), sizeof(la)) != 0) return 4;
    int s = accept(ls, nullptr, nullptr);
    close(c);
    close(s);
    return 0;
  });
  close(ls);
  const auto& ev = Events("sock-dport");
  ASSERT_GE(ev.size(), 1u);
  const tetragon::KprobeSock& sk = ev[0][0].sock_arg();  // the client: CLOSE -> SYN_SENT
  EXPECT_EQ(sk.family(), "AF_INET");
  EXPECT_EQ(sk.type(), "SOCK_STREAM");
  EXPECT_EQ(sk.protocol(), "IPPROTO_TCP");
  EXPECT_EQ(sk.daddr(), "127.0.0.1");
  EXPECT_EQ(sk.dport(), static_cast<uint32_t>(port));
  EXPECT_EQ(sk.state(), "TCP_CLOSE");  // the tracepoint fires before the change
  EXPECT_NE(sk.cookie(), 0u);
  EXPECT_EQ(Events("sock-dport-range").size(), ev.size());
  EXPECT_EQ(Events("sock-daddr").size(), ev.size());
  EXPECT_EQ(Events("sock-family-proto").size(), ev.size());
  EXPECT_EQ(Events("sock-other-port").size(), 0u);
  EXPECT_EQ(Events("sock-not-daddr").size(), 0u);
  EXPECT_EQ(Events("sock-udp").size(), 0u);
  EXPECT_EQ(Events("sock-priv").size(), 0u);
}

TEST_F(ArgTypesRootTest, SkbAndNetDeviceOnNetDevXmitOverLoopbackUdp) {
  const int port = 9;  // discard: nothing needs to listen for the packet to go out on lo
  const std::string head = "  - subsystem: net\n    event: net_dev_xmit\n    raw: true\n";
  const std::string args = "    - index: 0\n      type: skb\n    - index: 2\n      type: net_device\n";
  const std::string dport = absl::StrCat("[\"", port, "\"]");
  ASSERT_TRUE(Load("skb-dport", Hook(head, args, 0, "DPort", dport) +
                                    "      - index: 2\n        operator: Equal\n        values: [\"lo\"]\n")
                  .ok());
  ASSERT_TRUE(Load("skb-udp-saddr", Hook(head, args, 0, "Protocol", "[\"IPPROTO_UDP\"]") +
                                        "      - index: 0\n        operator: SAddr\n        values: [\"127.0.0.1\"]\n" +
                                        absl::StrCat("      - index: 0\n        operator: DPort\n        values: ", dport, "\n"))
                  .ok());
  ASSERT_TRUE(Load("skb-other-dev", Hook(head, args, 0, "DPort", dport) +
                                        "      - index: 2\n        operator: Equal\n        values: [\"eth0\"]\n")
                  .ok());
  ASSERT_TRUE(Load("skb-tcp", Hook(head, args, 0, "Protocol", "[\"IPPROTO_TCP\"]") +
                                  absl::StrCat("      - index: 0\n        operator: DPort\n        values: ", dport, "\n"))
                  .ok());
  Run([port] {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const char msg[] = "tgdispatch";
    if (sendto(s, msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != sizeof(msg)) return 2;
    close(s);
    return 0;
  });
  const auto& ev = Events("skb-dport");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].size(), 2u);
  const tetragon::KprobeSkb& skb = ev[0][0].skb_arg();
  EXPECT_EQ(skb.family(), "AF_INET");
  EXPECT_EQ(skb.protocol(), "IPPROTO_UDP");
  EXPECT_EQ(skb.proto(), 17u);
  EXPECT_EQ(skb.saddr(), "127.0.0.1");
  EXPECT_EQ(skb.daddr(), "127.0.0.1");
  EXPECT_EQ(skb.dport(), static_cast<uint32_t>(port));
  EXPECT_NE(skb.sport(), 0u);
  EXPECT_GE(skb.len(), 8u + 11u);  // UDP header + payload at least
  EXPECT_EQ(ev[0][1].string_arg(), "lo");
  EXPECT_EQ(Events("skb-udp-saddr").size(), 1u);
  EXPECT_EQ(Events("skb-other-dev").size(), 0u);
  EXPECT_EQ(Events("skb-tcp").size(), 0u);
}

// /tmp's file system decides which hooks fire: ext4's own tracepoints.
bool OnExt4(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == EXT4_SUPER_MAGIC;
}

TEST_F(ArgTypesRootTest, FileOnExt4SyncFileAndDentryOnExt4Unlink) {
  if (!OnExt4(dir_)) GTEST_SKIP() << dir_ << " is not on ext4: ext4_sync_file_enter/ext4_unlink_enter do not fire";
  const std::string head = "  - subsystem: ext4\n    event: ext4_sync_file_enter\n    raw: true\n";
  const std::string args = "    - index: 0\n      type: file\n";
  const std::string file = dir_ + "/synced";
  ASSERT_TRUE(Load("file-prefix", Hook(head, args, 0, "Prefix", absl::StrCat("[\"", dir_, "/\"]")) +
                                      "      - index: 0\n        operator: FileType\n        values: [\"reg\"]\n")
                  .ok());
  ASSERT_TRUE(Load("file-eq", Hook(head, args, 0, "Equal", absl::StrCat("[\"", file, "\"]"))).ok());
  ASSERT_TRUE(Load("file-not-reg", Hook(head, args, 0, "Prefix", absl::StrCat("[\"", dir_, "/\"]")) +
                                       "      - index: 0\n        operator: NotFileType\n        values: [\"reg\"]\n")
                  .ok());
  ASSERT_TRUE(Load("file-dir", Hook(head, args, 0, "FileType", "[\"dir\"]") +
                                   absl::StrCat("      - index: 0\n        operator: Prefix\n        values: [\"", dir_, "/\"]\n"))
                  .ok());
  const std::string uhead = "  - subsystem: ext4\n    event: ext4_unlink_enter\n    raw: true\n";
  const std::string uargs = "    - index: 1\n      type: dentry\n";
  // A dentry's path stops at its file system's root (here /, the same).
  ASSERT_TRUE(Load("dentry-eq", Hook(uhead, uargs, 1, "Equal", absl::StrCat("[\"", file, "\"]"))).ok());
  ASSERT_TRUE(Load("dentry-other", Hook(uhead, uargs, 1, "Postfix", "[\"/not-this\"]")).ok());
  Run([file] {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY, 0640);
    if (fd < 0 || write(fd, "x", 1) != 1 || fsync(fd) != 0) return 2;
    close(fd);
    return unlink(file.c_str()) == 0 ? 0 : 3;
  });
  const auto& ev = Events("file-prefix");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0][0].file_arg().path(), file);
  EXPECT_EQ(ev[0][0].file_arg().permission(), "-rw-r-----");
  EXPECT_EQ(Events("file-eq").size(), 1u);
  EXPECT_EQ(Events("file-not-reg").size(), 0u);
  EXPECT_EQ(Events("file-dir").size(), 0u);
  const auto& de = Events("dentry-eq");
  ASSERT_EQ(de.size(), 1u);
  EXPECT_EQ(de[0][0].path_arg().path(), file);
  EXPECT_EQ(de[0][0].path_arg().permission(), "-rw-r-----");
  EXPECT_EQ(Events("dentry-other").size(), 0u);
}

// iov_iter on iomap/iomap_dio_rw_begin (raw): an O_DIRECT write on ext4
// hands the kiocb and the iov_iter of the user's buffer (ITER_UBUF).
TEST_F(ArgTypesRootTest, IovIterOnIomapDirectWrite) {
  if (!OnExt4(dir_)) GTEST_SKIP() << dir_ << " is not on ext4: iomap direct I/O is not used";
  const std::string head = "  - subsystem: iomap\n    event: iomap_dio_rw_begin\n    raw: true\n";
  const std::string args = "    - index: 0\n      type: kiocb\n    - index: 1\n      type: iov_iter\n      label: data\n";
  const std::string file = dir_ + "/direct";
  // kiocb cannot be filtered (as Tetragon): the policy is scoped to the test's cgroup.
  absl::Status loaded = Load("iter-eq", absl::StrCat("  tracepoints:\n", head, "    args:\n", args));
  ASSERT_TRUE(loaded.ok()) << loaded;
  loaded = Load("iter-maxdata", absl::StrCat("  tracepoints:\n", head, "    args:\n", args, "      maxData: true\n"));
  ASSERT_TRUE(loaded.ok()) << loaded;
  Run([file] {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_DIRECT, 0640);
    if (fd < 0) return 2;
    void* buf = nullptr;
    if (posix_memalign(&buf, 4096, 4096) != 0) return 3;
    memset(buf, 'z', 4096);
    memcpy(buf, "tgdispatch-iov-iter", 19);
    int ok = pwrite(fd, buf, 4096, 0) == 4096;
    free(buf);
    close(fd);
    return ok ? 0 : 4;
  });
  const auto& ev = Events("iter-eq");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].size(), 2u);
  EXPECT_EQ(ev[0][0].file_arg().path(), file);
  // As far as Tetragon reads it (4095 bytes; with maxData the 4096), the
  // rest of the record's 240 from data chunks; tracepoint events carry a
  // plain bytes_arg.
  const std::string& t = ev[0][1].bytes_arg();
  ASSERT_EQ(t.size(), static_cast<size_t>(TGD_BUF_DEFAULT));
  EXPECT_EQ(t.substr(0, 19), "tgdispatch-iov-iter");
  EXPECT_EQ(t.find_first_not_of('z', 19), std::string::npos);
  const auto& m = Events("iter-maxdata");
  ASSERT_EQ(m.size(), 1u);
  ASSERT_EQ(m[0][1].bytes_arg().size(), 4096u);
  EXPECT_EQ(m[0][1].bytes_arg().substr(0, 19), "tgdispatch-iov-iter");
}

TEST_F(ArgTypesRootTest, FdAndCharBufOnSysEnterWrite) {
  const std::string head = "  - subsystem: syscalls\n    event: sys_enter_write\n";
  const std::string args =
      "    - index: 5\n      type: fd\n    - index: 6\n      type: char_buf\n      sizeArgIndex: 8\n"
      "    - index: 7\n      type: size_t\n";
  const std::string file = dir_ + "/written";
  ASSERT_TRUE(Load("fd-eq", Hook(head, args, 5, "Equal", absl::StrCat("[\"", file, "\"]"))).ok());
  ASSERT_TRUE(Load("buf-prefix", Hook(head, args, 6, "Prefix", "[\"tgdispatch-payload\"]") +
                                     absl::StrCat("      - index: 5\n        operator: Postfix\n        values: [\"/written\"]\n"))
                  .ok());
  ASSERT_TRUE(Load("fd-other", Hook(head, args, 5, "Equal", absl::StrCat("[\"", dir_, "/other\"]"))).ok());
  ASSERT_TRUE(Load("buf-substr", Hook(head, args, 6, "SubString", "[\"nothere\", \"-payl\"]") +
                                     "      - index: 5\n        operator: Postfix\n        values: [\"/written\"]\n")
                  .ok());
  ASSERT_TRUE(Load("buf-substr-nocase", Hook(head, args, 6, "SubStringIgnCase", "[\"DISPATCH-PAY\"]") +
                                            "      - index: 5\n        operator: Postfix\n        values: [\"/written\"]\n")
                  .ok());
  ASSERT_TRUE(Load("buf-substr-case", Hook(head, args, 6, "SubString", "[\"DISPATCH\"]") +
                                          "      - index: 5\n        operator: Postfix\n        values: [\"/written\"]\n")
                  .ok());
  ASSERT_TRUE(Load("fd-substr", Hook(head, args, 5, "SubString", absl::StrCat("[\"argt-", getpid(), "/writ\"]"))).ok());
  std::string big(1000, 'z');
  Run([file, big] {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY, 0600);
    const char msg[] = "tgdispatch-payload";
    if (fd < 0 || write(fd, msg, sizeof(msg) - 1) != sizeof(msg) - 1) return 2;
    if (write(fd, big.data(), big.size()) != static_cast<ssize_t>(big.size())) return 3;
    close(fd);
    return 0;
  });
  const auto& ev = Events("fd-eq");
  ASSERT_EQ(ev.size(), 2u);
  ASSERT_EQ(ev[0].size(), 3u);
  EXPECT_EQ(ev[0][0].file_arg().path(), file);
  EXPECT_EQ(ev[0][0].file_arg().permission(), "-rw-------");
  EXPECT_EQ(ev[0][1].bytes_arg(), "tgdispatch-payload");
  EXPECT_EQ(ev[0][2].size_arg(), 18u);
  // Longer than the record: the rest came as data chunks; Tetragon's
  // tracepoint events carry the bytes as a plain bytes_arg.
  EXPECT_EQ(ev[1][1].bytes_arg(), big);
  EXPECT_EQ(Events("buf-prefix").size(), 1u);
  EXPECT_EQ(Events("fd-other").size(), 0u);
  EXPECT_EQ(Events("buf-substr").size(), 1u);
  EXPECT_EQ(Events("buf-substr-nocase").size(), 1u);
  EXPECT_EQ(Events("buf-substr-case").size(), 0u);
  EXPECT_EQ(Events("fd-substr").size(), 2u);
}

TEST_F(ArgTypesRootTest, CredUserNamespaceAndCapabilityOnCapCapable) {
  const std::string head = "  - subsystem: capability\n    event: cap_capable\n";
  const std::string args =
      "    - index: 4\n      type: cred\n    - index: 5\n      type: user_namespace\n"
      "    - index: 7\n      type: int\n    - index: 7\n      type: capability\n";  // matchArgs: the first
  ASSERT_TRUE(Load("cap-admin", Hook(head, args, 7, "Equal", "[\"21\"]")).ok());
  ASSERT_TRUE(Load("cap-range", Hook(head, args, 7, "InRange", "[\"20:22\"]")).ok());
  ASSERT_TRUE(Load("cap-not-range", Hook(head, args, 7, "NotInRange", "[\"0:40\"]")).ok());
  ASSERT_TRUE(Load("cap-inmap", Hook(head, args, 7, "InMap", "[\"3\", \"21\"]")).ok());
  ASSERT_TRUE(Load("cap-chown", Hook(head, args, 7, "Equal", "[\"0\"]") +
                                    "      - index: 7\n        operator: GT\n        values: [\"100\"]\n")
                  .ok());
  Run([] { return unshare(CLONE_NEWUTS) == 0 ? 0 : 2; });  // checks CAP_SYS_ADMIN
  const auto& ev = Events("cap-admin");
  ASSERT_GE(ev.size(), 1u);
  ASSERT_EQ(ev[0].size(), 4u);
  const tetragon::ProcessCredentials& c = ev[0][0].process_credentials_arg();
  EXPECT_EQ(c.uid().value(), getuid());
  EXPECT_EQ(c.euid().value(), geteuid());
  EXPECT_EQ(c.gid().value(), getgid());
  EXPECT_TRUE(c.has_caps());
  bool admin = false;
  for (int cap : c.caps().effective()) admin |= cap == 21;
  EXPECT_TRUE(admin) << "root's effective set has CAP_SYS_ADMIN";
  EXPECT_EQ(c.user_ns().level().value(), 0);
  EXPECT_TRUE(c.user_ns().ns().is_host());
  struct stat ns;
  ASSERT_EQ(stat("/proc/self/ns/user", &ns), 0);
  EXPECT_EQ(c.user_ns().ns().inum(), ns.st_ino);
  EXPECT_EQ(ev[0][1].user_ns_arg().ns().inum(), ns.st_ino);
  EXPECT_EQ(ev[0][2].int_arg(), 21);
  EXPECT_EQ(ev[0][3].capability_arg().name(), "CAP_SYS_ADMIN");
  EXPECT_EQ(ev[0][3].capability_arg().value().value(), 21);
  EXPECT_EQ(Events("cap-range").size(), ev.size());
  EXPECT_GE(Events("cap-inmap").size(), ev.size());
  EXPECT_EQ(Events("cap-not-range").size(), 0u);
  EXPECT_EQ(Events("cap-chown").size(), 0u);
}

TEST_F(ArgTypesRootTest, SockaddrOnSysEnterConnect) {
  const std::string head = "  - subsystem: syscalls\n    event: sys_enter_connect\n";
  const std::string args = "    - index: 5\n      type: fd\n    - index: 6\n      type: sockaddr\n";
  const int port = 9;  // discard: the UDP connect() needs no listener
  ASSERT_TRUE(Load("sa-saddr", Hook(head, args, 6, "SAddr", "[\"127.0.0.0/8\"]") +
                                   absl::StrCat("      - index: 6\n        operator: SPort\n        values: [\"", port, "\"]\n") +
                                   "      - index: 6\n        operator: Family\n        values: [\"AF_INET\"]\n")
                  .ok());
  ASSERT_TRUE(Load("sa-priv", Hook(head, args, 6, "SPortPriv", "") +
                                  "      - index: 6\n        operator: SAddr\n        values: [\"127.0.0.1\"]\n")
                  .ok());
  ASSERT_TRUE(Load("sa-v6", Hook(head, args, 6, "SAddr", "[\"::1/128\"]")).ok());
  ASSERT_TRUE(Load("sa-not-lo", Hook(head, args, 6, "NotSAddr", "[\"127.0.0.0/8\"]") +
                                    "      - index: 6\n        operator: Family\n        values: [\"AF_INET\"]\n")
                  .ok());
  Run([port] {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int r = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    close(s);
    return r == 0 ? 0 : 2;
  });
  const auto& ev = Events("sa-saddr");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].size(), 2u);
  EXPECT_EQ(ev[0][1].sockaddr_arg().family(), "AF_INET");
  EXPECT_EQ(ev[0][1].sockaddr_arg().addr(), "127.0.0.1");
  EXPECT_EQ(ev[0][1].sockaddr_arg().port(), static_cast<uint32_t>(port));
  EXPECT_EQ(Events("sa-priv").size(), 1u);
  EXPECT_EQ(Events("sa-v6").size(), 0u);
  EXPECT_EQ(Events("sa-not-lo").size(), 0u);
}

TEST_F(ArgTypesRootTest, SockaddrUnOnSysEnterConnect) {
  // Two listeners of the test: a file-system socket and an abstract one.
  const std::string path = dir_ + "/sock";
  const std::string abstract = absl::StrCat("tgd-argt-", getpid());
  auto listen_on = [](const sockaddr_un& a, socklen_t len) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || bind(s, reinterpret_cast<const sockaddr*>(&a), len) != 0 || listen(s, 2) != 0) return -1;
    return s;
  };
  sockaddr_un fs{};
  fs.sun_family = AF_UNIX;
  strncpy(fs.sun_path, path.c_str(), sizeof(fs.sun_path) - 1);
  sockaddr_un ab{};
  ab.sun_family = AF_UNIX;
  memcpy(ab.sun_path + 1, abstract.data(), abstract.size());
  const socklen_t ab_len = offsetof(sockaddr_un, sun_path) + 1 + abstract.size();
  int l1 = listen_on(fs, sizeof(fs));
  int l2 = listen_on(ab, ab_len);
  ASSERT_GE(l1, 0);
  ASSERT_GE(l2, 0);
  const std::string head = "  - subsystem: syscalls\n    event: sys_enter_connect\n";
  const std::string args = "    - index: 6\n      type: sockaddr_un\n";
  ASSERT_TRUE(Load("un-path", Hook(head, args, 6, "Equal", absl::StrCat("[\"", path, "\"]"))).ok());
  ASSERT_TRUE(Load("un-abstract", Hook(head, args, 6, "Prefix", "[\"@tgd-argt-\"]")).ok());
  ASSERT_TRUE(Load("un-other", Hook(head, args, 6, "Postfix", "[\"/not-this\"]")).ok());
  Run([fs, ab, ab_len] {
    int c1 = socket(AF_UNIX, SOCK_STREAM, 0);
    int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c1, reinterpret_cast<const sockaddr*>(&fs), sizeof(fs)) != 0) return 2;
    if (connect(c2, reinterpret_cast<const sockaddr*>(&ab), ab_len) != 0) return 3;
    close(c1);
    close(c2);
    return 0;
  });
  close(l1);
  close(l2);
  const auto& ev = Events("un-path");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0][0].sockaddrun_arg().family(), "AF_UNIX");
  EXPECT_EQ(ev[0][0].sockaddrun_arg().path(), path);
  const auto& ab_ev = Events("un-abstract");
  ASSERT_EQ(ab_ev.size(), 1u);
  EXPECT_EQ(ab_ev[0][0].sockaddrun_arg().path(), "@" + abstract);
  EXPECT_EQ(Events("un-other").size(), 0u);
}

TEST_F(ArgTypesRootTest, CharIovecOnSysEnterWritev) {
  const std::string head = "  - subsystem: syscalls\n    event: sys_enter_writev\n";
  const std::string args = "    - index: 5\n      type: fd\n    - index: 6\n      type: char_iovec\n      sizeArgIndex: 8\n";
  const std::string file = dir_ + "/vectored";
  // Tetragon takes no matchArgs operator on char_iovec: the fd selects.
  ASSERT_TRUE(Load("iov-fd", Hook(head, args, 5, "Equal", absl::StrCat("[\"", file, "\"]"))).ok());
  ASSERT_TRUE(Load("iov-other", Hook(head, args, 5, "Equal", absl::StrCat("[\"", dir_, "/other\"]"))).ok());
  Run([file] {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY, 0600);
    char a[] = "first-", b[] = "second";
    iovec iov[2] = {{a, 6}, {b, 6}};
    if (fd < 0 || writev(fd, iov, 2) != 12) return 2;
    close(fd);
    return 0;
  });
  const auto& ev = Events("iov-fd");
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_EQ(ev[0].size(), 2u);
  EXPECT_EQ(ev[0][1].bytes_arg(), "first-second");
  EXPECT_EQ(Events("iov-other").size(), 0u);
}


// Read once per event (issue 11 item 4): policies of one event that read the
// same arguments in other orders and subsets each get their own arguments in
// their own order, whether the evaluator kept a value in place, copied it
// from another position or read it (a wrong copy shows as a wrong type or
// value at a position).
TEST_F(ArgTypesRootTest, ArgumentsReadOnceServeEveryPolicyInItsOwnOrder) {
  const std::string head = "  - subsystem: syscalls\n    event: sys_enter_write\n";
  const std::string fd = "    - index: 5\n      type: fd\n";
  const std::string buf = "    - index: 6\n      type: char_buf\n      sizeArgIndex: 8\n";
  const std::string size = "    - index: 7\n      type: size_t\n";
  const std::string file = dir_ + "/written";
  const std::string on_file = absl::StrCat("[\"", file, "\"]");
  ASSERT_TRUE(Load("fd-size", Hook(head, fd + size, 5, "Equal", on_file)).ok());
  ASSERT_TRUE(Load("size-fd-buf", Hook(head, size + fd + buf, 5, "Equal", on_file)).ok());
  ASSERT_TRUE(Load("buf-only", Hook(head, buf, 6, "Prefix", "[\"tgdispatch-payload\"]")).ok());
  ASSERT_TRUE(Load("buf-size-fd", Hook(head, buf + size + fd, 5, "Equal", on_file)).ok());
  std::string big(1000, 'z');
  Run([file, big] {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY, 0600);
    const char msg[] = "tgdispatch-payload";
    if (fd < 0 || write(fd, msg, sizeof(msg) - 1) != sizeof(msg) - 1) return 2;
    if (write(fd, big.data(), big.size()) != static_cast<ssize_t>(big.size())) return 3;
    close(fd);
    return 0;
  });
  const auto& a = Events("fd-size");
  ASSERT_EQ(a.size(), 2u);
  for (const auto& e : a) ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(a[0][0].file_arg().path(), file);
  EXPECT_EQ(a[0][1].size_arg(), 18u);
  EXPECT_EQ(a[1][0].file_arg().path(), file);
  EXPECT_EQ(a[1][1].size_arg(), 1000u);

  const auto& b = Events("size-fd-buf");
  ASSERT_EQ(b.size(), 2u);
  for (const auto& e : b) ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(b[0][0].size_arg(), 18u);
  EXPECT_EQ(b[0][1].file_arg().path(), file);
  EXPECT_EQ(b[0][2].bytes_arg(), "tgdispatch-payload");
  EXPECT_EQ(b[1][0].size_arg(), 1000u);
  EXPECT_EQ(b[1][1].file_arg().path(), file);
  EXPECT_EQ(b[1][2].bytes_arg(), std::string(1000, 'z'));

  const auto& c = Events("buf-only");
  ASSERT_EQ(c.size(), 1u);
  ASSERT_EQ(c[0].size(), 1u);
  EXPECT_EQ(c[0][0].bytes_arg(), "tgdispatch-payload");

  const auto& d = Events("buf-size-fd");
  ASSERT_EQ(d.size(), 2u);
  for (const auto& e : d) ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(d[0][0].bytes_arg(), "tgdispatch-payload");
  EXPECT_EQ(d[0][1].size_arg(), 18u);
  EXPECT_EQ(d[0][2].file_arg().path(), file);
  EXPECT_EQ(d[1][0].bytes_arg(), std::string(1000, 'z'));
  EXPECT_EQ(d[1][1].size_arg(), 1000u);
  EXPECT_EQ(d[1][2].file_arg().path(), file);
}

}  // namespace
}  // namespace tgd
