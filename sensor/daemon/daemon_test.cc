// Unit tests of the daemon's config checks (no root needed). They never
// use the default --bpf-dir, and bad configs must fail before bpffs is touched.
#include "sensor/daemon/daemon.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sensor/bpfcore/fs.h"

namespace tgd {
namespace {

using ::testing::HasSubstr;

TEST(CheckServerAddressTest, LoopbackOnlyUnlessAllowed) {
  EXPECT_TRUE(CheckServerAddress("localhost:54322", false).ok());
  EXPECT_TRUE(CheckServerAddress("127.0.0.1:1", false).ok());
  EXPECT_TRUE(CheckServerAddress("[::1]:54322", false).ok());
  EXPECT_TRUE(CheckServerAddress("unix:///run/tgdispatch.sock", false).ok());
  absl::Status remote = CheckServerAddress("0.0.0.0:54322", false);
  EXPECT_EQ(remote.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(remote.message().find("--allow-remote"), std::string::npos);
  EXPECT_TRUE(CheckServerAddress("0.0.0.0:54322", true).ok());
  EXPECT_FALSE(CheckServerAddress("localhost", false).ok());
  EXPECT_FALSE(CheckServerAddress("localhost:99999", false).ok());
  EXPECT_FALSE(CheckServerAddress("unix://relative.sock", false).ok());
}

TEST(CheckServerAddressTest, HostnamesThatLookLikeLoopbackAreRemote) {
  EXPECT_TRUE(CheckServerAddress("127.10.20.30:54322", false).ok());
  EXPECT_TRUE(CheckServerAddress("::1:54322", false).ok());
  for (const char* a : {"127.evil.example:54322", "127.0.0.1.nip.io:54322", "127.1:54322",
                        "[::ffff:127.0.0.1]:54322", "localhost.evil.example:54322"}) {
    absl::Status st = CheckServerAddress(a, false);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << a;
    EXPECT_THAT(std::string(st.message()), HasSubstr("not a loopback address")) << a;
    EXPECT_TRUE(CheckServerAddress(a, true).ok()) << a;
  }
}

// A bpffs directory name of the test's own (never /sys/fs/bpf/tgdispatch,
// where a running daemon keeps its pins). Whatever ends up there is removed
// at scope exit, also when an assertion fails.
class ScratchBpfDir {
 public:
  ScratchBpfDir() {
    static int n = 0;
    path_ = absl::StrCat("/sys/fs/bpf/tgd-test-daemon-", getpid(), "-", n++);
  }
  ~ScratchBpfDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  bool touched() const { return std::filesystem::exists(path_); }

 private:
  std::string path_;
};

// A scratch file under the test's temp dir, removed at scope exit.
class ScratchFile {
 public:
  ScratchFile(absl::string_view name, absl::string_view text)
      : path_(absl::StrCat(::testing::TempDir(), "/", getpid(), "-", name)) {
    std::ofstream(path_) << text;
  }
  ~ScratchFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

DaemonConfig TestConfig(const ScratchBpfDir& dir) {
  DaemonConfig c;
  c.bpf_dir = dir.path();
  c.state_dir = absl::StrCat(::testing::TempDir(), "/state-", getpid());  // never the machine's
  c.process_events = false;
  return c;
}

TEST(DaemonStartTest, RejectsBadConfigBeforeTouchingTheSystem) {
  ScratchBpfDir dir;
  DaemonConfig c = TestConfig(dir);
  c.loader = "fancy";
  auto d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("--loader"));
  c = TestConfig(dir);
  c.export_file = "/tmp/x";
  c.export_file_perm = "rw-------";
  d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("--export-file-perm"));
  c = TestConfig(dir);
  c.metrics_address = "0.0.0.0:2113";
  d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("--metrics-address"));
  c = TestConfig(dir);
  c.server_address = "10.0.0.1:54322";
  EXPECT_FALSE(Daemon::Start(c).ok());
  EXPECT_FALSE(dir.touched());
}

TEST(DaemonStartTest, ReadsTheWorkloadsFileBeforeTouchingBpffs) {
  ScratchBpfDir dir;
  DaemonConfig c = TestConfig(dir);
  c.workloads_file = absl::StrCat(::testing::TempDir(), "/no-such-workloads.yaml");
  auto d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound) << d.status();
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("--workloads"));
  EXPECT_FALSE(dir.touched());

  ScratchFile bad("workloads-bad.yaml", "pods:\n  - name: web\n    containers: {}\n");
  c.workloads_file = bad.path();
  d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("--workloads"));
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("pods[0].containers: must be a list"));
  EXPECT_FALSE(dir.touched());
}

TEST(ValidateDaemonConfigTest, ChecksDirectoriesAndFiles) {
  ScratchBpfDir dir;
  DaemonConfig c = TestConfig(dir);
  EXPECT_TRUE(ValidateDaemonConfig(c).ok());
  c.bpf_dir = "relative/dir";
  EXPECT_THAT(std::string(ValidateDaemonConfig(c).message()), HasSubstr("--bpf-dir"));
  c = TestConfig(dir);
  c.state_dir = "state";
  EXPECT_THAT(std::string(ValidateDaemonConfig(c).message()),
              HasSubstr("--state-dir \"state\": want an absolute path"));
  c = TestConfig(dir);
  c.policy_dir = "/nonexistent/policies";
  EXPECT_THAT(std::string(ValidateDaemonConfig(c).message()), HasSubstr("--policy-dir"));
  c = TestConfig(dir);
  c.node_labels = "pool=gpu,=x";  // --node-labels: checked at start, naming the flag
  EXPECT_THAT(std::string(ValidateDaemonConfig(c).message()), HasSubstr("--node-labels: \"=x\""));
  c.node_labels = "pool=gpu,arch=arm64";
  EXPECT_TRUE(ValidateDaemonConfig(c).ok());
  c = TestConfig(dir);
  c.tetragon_bpf_dir = "/nonexistent/tetragon";
  EXPECT_THAT(std::string(ValidateDaemonConfig(c).message()), HasSubstr("--tetragon-bpf-dir"));
  ScratchFile good("workloads-good.yaml", "pods:\n  - name: web\n");
  c = TestConfig(dir);
  c.workloads_file = good.path();
  absl::Status st = ValidateDaemonConfig(c);
  if (!FindCgroup2Mount().ok()) {
    EXPECT_THAT(std::string(st.message()), HasSubstr("no cgroup v2 mount"));
  } else {
    EXPECT_TRUE(st.ok()) << st;
  }
  EXPECT_FALSE(dir.touched());
}

TEST(ValidateDaemonConfigTest, ServerTlsAndGroup) {
  DaemonConfig c;
  c.server_tls.cert_file = "/etc/tgd/server.crt";
  EXPECT_THAT(std::string(ValidateDaemonConfig(c).message()), HasSubstr("--server-tls-key-file"));
  c.server_tls.key_file = "/etc/tgd/server.key";
  c.server_address = "unix:///run/tgd.sock";
  EXPECT_THAT(std::string(ValidateDaemonConfig(c).message()), HasSubstr("TCP address"));
  DaemonConfig g;
  g.server_group = "tgd-no-such-group-xyz";
  absl::Status st = ValidateDaemonConfig(g);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("--server-group"));
}

TEST(ExportOptionsTest, FromConfig) {
  DaemonConfig c;
  c.export_file = "/var/log/tgdispatch/events.log";
  c.export_file_max_size_mb = 3;
  c.export_file_max_backups = 7;
  c.export_file_perm = "0640";
  c.export_allowlist = "{\"event_set\":[\"PROCESS_EXEC\"]}";
  auto o = ExportOptionsFromConfig(c);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->file.path, c.export_file);
  EXPECT_EQ(o->file.max_size_bytes, 3u << 20);
  EXPECT_EQ(o->file.max_backups, 7);
  EXPECT_EQ(o->file.mode, 0640u);
  EXPECT_EQ(o->allowlist, c.export_allowlist);
  EXPECT_EQ(ExportOptionsFromConfig(DaemonConfig())->file.mode, 0600u);  // Tetragon's default
  for (const char* bad : {"", "999", "12345", "-1", "0x1ff"}) {
    c.export_file_perm = bad;
    EXPECT_FALSE(ExportOptionsFromConfig(c).ok()) << bad;
  }
  // More open than 0640: refused, naming the flag.
  for (const char* open : {"644", "0660", "0604", "0650", "777"}) {
    c.export_file_perm = open;
    auto st = ExportOptionsFromConfig(c);
    ASSERT_FALSE(st.ok()) << open;
    EXPECT_THAT(std::string(st.status().message()), HasSubstr("more open than 0640")) << open;
    EXPECT_THAT(std::string(st.status().message()), HasSubstr("--export-file-perm")) << open;
  }
  for (const char* fine : {"400", "600", "640", "700", "0440"}) {
    c.export_file_perm = fine;
    EXPECT_TRUE(ExportOptionsFromConfig(c).ok()) << fine;
  }
  c.export_file_perm = "600";
  c.export_file_max_backups = -1;
  EXPECT_FALSE(ExportOptionsFromConfig(c).ok());
}

}  // namespace
}  // namespace tgd
