// Tests of ParseGrpcInetPeer and TcpSocketOwner against real loopback
// connections (sock_diag dumps need no privilege).
#include "sensor/base/sock_diag.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {
namespace {

TEST(ParseGrpcInetPeerTest, Forms) {
  auto v4 = ParseGrpcInetPeer("ipv4:127.0.0.1:5000");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->family, AF_INET);
  EXPECT_EQ(v4->port, 5000);
  uint32_t a;
  memcpy(&a, &v4->addr, 4);
  EXPECT_EQ(ntohl(a), 0x7f000001u);

  for (const char* p : {"ipv6:[::1]:6000", "ipv6:%5B::1%5D:6000"}) {
    auto v6 = ParseGrpcInetPeer(p);
    ASSERT_TRUE(v6.ok()) << p << ": " << v6.status();
    EXPECT_EQ(v6->family, AF_INET6);
    EXPECT_EQ(v6->port, 6000);
    EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&v6->addr));
  }
  auto mapped = ParseGrpcInetPeer("ipv6:[::ffff:127.0.0.2]:7000");
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->family, AF_INET);
  memcpy(&a, &mapped->addr, 4);
  EXPECT_EQ(ntohl(a), 0x7f000002u);

  for (const char* bad : {"unix:/run/x.sock", "fd:7", "ipv4:127.0.0.1", "ipv4:127.1:80", "ipv6:::1:80",
                          "ipv4:127.0.0.1:70000", ""}) {
    EXPECT_FALSE(ParseGrpcInetPeer(bad).ok()) << bad;
  }
}

// A connected pair over 127.0.0.1; returns the client's endpoint and the
// server's port.
void Connect(FileDescriptor* listener, FileDescriptor* client, InetEndpoint* client_end, uint16_t* server_port) {
  listener->Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener->get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(listen(listener->get(), 4), 0);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(getsockname(listener->get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  *server_port = ntohs(sa.sin_port);
  client->Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client->get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  sockaddr_in local{};
  len = sizeof(local);
  ASSERT_EQ(getsockname(client->get(), reinterpret_cast<sockaddr*>(&local), &len), 0);
  client_end->family = AF_INET;
  memcpy(&client_end->addr, &local.sin_addr, 4);
  client_end->port = ntohs(local.sin_port);
}

TEST(TcpSocketOwnerTest, FindsTheClientSocketsOwner) {
  FileDescriptor listener, client;
  InetEndpoint end;
  uint16_t server_port = 0;
  ASSERT_NO_FATAL_FAILURE(Connect(&listener, &client, &end, &server_port));
  auto uid = TcpSocketOwner(end, server_port);
  ASSERT_TRUE(uid.ok()) << uid.status();
  EXPECT_EQ(*uid, geteuid());
}

TEST(TcpSocketOwnerTest, FindsAClientOnAnotherLoopbackAddress) {
  // 127.0.0.2 -> 127.0.0.1: not the same address, found by the dump.
  FileDescriptor listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), len), 0);
  ASSERT_EQ(listen(listener.get(), 4), 0);
  ASSERT_EQ(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  FileDescriptor client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(0x7f000002);
  ASSERT_EQ(bind(client.get(), reinterpret_cast<sockaddr*>(&from), sizeof(from)), 0);
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  len = sizeof(from);
  ASSERT_EQ(getsockname(client.get(), reinterpret_cast<sockaddr*>(&from), &len), 0);
  InetEndpoint end;
  end.family = AF_INET;
  memcpy(&end.addr, &from.sin_addr, 4);
  end.port = ntohs(from.sin_port);
  auto uid = TcpSocketOwner(end, ntohs(sa.sin_port));
  ASSERT_TRUE(uid.ok()) << uid.status();
  EXPECT_EQ(*uid, geteuid());
}

TEST(TcpSocketOwnerTest, NotFoundForAnEndpointNoSocketHas) {
  FileDescriptor listener, client;
  InetEndpoint end;
  uint16_t server_port = 0;
  ASSERT_NO_FATAL_FAILURE(Connect(&listener, &client, &end, &server_port));
  // The right ports from another address, and the server's own end.
  InetEndpoint other = end;
  uint32_t a = htonl(0x7f0000fe);
  memcpy(&other.addr, &a, 4);
  EXPECT_EQ(TcpSocketOwner(other, server_port).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(TcpSocketOwner(end, static_cast<uint16_t>(server_port + 1)).status().code(),
            absl::StatusCode::kNotFound);
  client.Reset();
  listener.Reset();
  // Closed: TIME_WAIT or nothing, never an owner.
  EXPECT_FALSE(TcpSocketOwner(end, server_port).ok());
}

}  // namespace
}  // namespace tgd
