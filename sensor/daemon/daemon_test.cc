// Unit tests of the daemon's config checks (no root needed).
#include "sensor/daemon/daemon.h"

#include "gtest/gtest.h"

namespace tgd {
namespace {

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

TEST(DaemonStartTest, RejectsBadConfigBeforeTouchingTheSystem) {
  DaemonConfig c;
  c.loader = "fancy";
  auto d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("--loader"), std::string::npos);
  c = DaemonConfig();
  c.export_file = "/tmp/x";
  c.export_file_perm = "rw-------";
  d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("--export-file-perm"), std::string::npos);
  c = DaemonConfig();
  c.metrics_address = "0.0.0.0:2113";
  d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("--metrics-address"), std::string::npos);
  c = DaemonConfig();
  c.workloads_file = "/tmp/w";
  EXPECT_NE(Daemon::Start(c).status().message().find("--workloads"), std::string::npos);
  c = DaemonConfig();
  c.server_address = "10.0.0.1:54322";
  EXPECT_FALSE(Daemon::Start(c).ok());
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
  c.export_file_perm = "600";
  c.export_file_max_backups = -1;
  EXPECT_FALSE(ExportOptionsFromConfig(c).ok());
}

}  // namespace
}  // namespace tgd
