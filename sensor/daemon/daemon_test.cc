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
  d = Daemon::Start(c);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("--export-file"), std::string::npos);
  c = DaemonConfig();
  c.server_address = "10.0.0.1:54322";
  EXPECT_FALSE(Daemon::Start(c).ok());
}

}  // namespace
}  // namespace tgd
