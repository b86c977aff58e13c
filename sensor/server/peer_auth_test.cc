// Tests of PeerAuthorizer without privilege: which RPCs are open, who is
// privileged, and how peers gRPC names are identified (a loopback TCP
// client owned by this user, unknown fds, unparsable peers).
#include "sensor/server/peer_auth.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {
namespace {

TEST(PeerAuthTest, OpenRpcsAreTheReadOnlyOnes) {
  for (const char* open : {"GetHealth", "GetVersion", "GetInfo", "ListDomains", "ListTracingPolicies", "ListSensors"}) {
    EXPECT_TRUE(IsOpenRpc(open)) << open;
  }
  for (const char* priv : {"AddTracingPolicy", "DeleteTracingPolicy", "EnableTracingPolicy", "DisableTracingPolicy",
                           "ConfigureTracingPolicy", "RuntimeHook", "GetEvents", "SetDebug", "GetDebug",
                           "EnableSensor", "DisableSensor", "RemoveSensor", "SomethingNew", ""}) {
    EXPECT_FALSE(IsOpenRpc(priv)) << priv;
  }
}

TEST(PeerAuthTest, RootTheDaemonsUserAndGroupMembersArePrivileged) {
  auto plain = PeerAuthorizer::Create({});
  ASSERT_TRUE(plain.ok()) << plain.status();
  PeerIdentity root;
  root.uid = 0;
  EXPECT_TRUE((*plain)->Privileged(root));
  PeerIdentity self;
  self.uid = geteuid();
  EXPECT_TRUE((*plain)->Privileged(self));
  PeerIdentity other;
  other.uid = geteuid() == 65534 ? 65533 : 65534;
  other.gid = other.uid;
  EXPECT_FALSE((*plain)->Privileged(other));

  group* g = getgrgid(other.uid);
  if (g == nullptr) GTEST_SKIP() << "no group " << other.uid;
  PeerAuthOptions o;
  o.group = g->gr_name;
  auto grouped = PeerAuthorizer::Create(o);
  ASSERT_TRUE(grouped.ok()) << grouped.status();
  ASSERT_TRUE((*grouped)->group_gid().has_value());
  EXPECT_EQ(*(*grouped)->group_gid(), other.uid);
  EXPECT_TRUE((*grouped)->Privileged(other));  // the peer's gid
  PeerIdentity stranger;
  stranger.uid = 65532;
  stranger.gid = 65532;
  EXPECT_FALSE((*grouped)->Privileged(stranger));
}

TEST(PeerAuthTest, UnknownGroupIsAnError) {
  PeerAuthOptions o;
  o.group = "tgd-no-such-group-xyz";
  auto a = PeerAuthorizer::Create(o);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("--server-group \"tgd-no-such-group-xyz\""), std::string::npos);
}

TEST(PeerAuthTest, IdentifiesPeers) {
  auto a = PeerAuthorizer::Create({});
  ASSERT_TRUE(a.ok());
  // Not accepted by the server, not a number, not a TCP peer.
  for (const char* p : {"fd:12345", "fd:x", "unix:/run/x.sock", "in-process", ""}) {
    auto id = (*a)->Identify(p);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kPermissionDenied) << p;
  }
  // A loopback TCP client of ours: its owner is this user.
  FileDescriptor listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), len), 0);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  ASSERT_EQ(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  FileDescriptor client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  sockaddr_in local{};
  len = sizeof(local);
  ASSERT_EQ(getsockname(client.get(), reinterpret_cast<sockaddr*>(&local), &len), 0);
  const std::string peer = absl::StrCat("ipv4:127.0.0.1:", ntohs(local.sin_port));
  EXPECT_FALSE((*a)->Identify(peer).ok()) << "no TCP listener port known yet";
  (*a)->SetTcpPort(ntohs(sa.sin_port));
  auto id = (*a)->Identify(peer);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->uid, geteuid());
  // The same port from an address no socket has: unknown, refused.
  auto remote = (*a)->Identify(absl::StrCat("ipv4:10.255.255.1:", ntohs(local.sin_port)));
  EXPECT_EQ(remote.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(remote.status().message().find("cannot tell who"), std::string::npos) << remote.status();
  // A unix connection recorded at accept is known by its fd.
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  FileDescriptor p0(pair[0]), p1(pair[1]);
  ASSERT_TRUE((*a)->AddUnixPeer(p0.get()).ok());
  auto u = (*a)->Identify(absl::StrCat("fd:", p0.get()));
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->uid, geteuid());
  EXPECT_EQ(u->via, "unix socket");
}

}  // namespace
}  // namespace tgd
