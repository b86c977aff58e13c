#include "sensor/actions/user_actions.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "sensor/actions/testing/local_servers.h"

namespace tgd {
namespace {

TEST(HttpGet, FetchesFromALocalServer) {
  auto srv = testing::LocalHttpServer::Start();
  ASSERT_TRUE(srv.ok()) << srv.status();
  EXPECT_TRUE(HttpGet((*srv)->url("/hello?x=1"), absl::Seconds(5)).ok());
  EXPECT_TRUE(HttpGet(absl::StrCat("http://localhost:", (*srv)->port()), absl::Seconds(5)).ok());  // resolved name, path "/"
  std::vector<std::string> r = (*srv)->Requests();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], "GET /hello?x=1 HTTP/1.1");
  EXPECT_EQ(r[1], "GET / HTTP/1.1");
}

TEST(HttpGet, SilentServerTimesOut) {
  auto srv = testing::LocalHttpServer::Start(/*silent=*/true);
  ASSERT_TRUE(srv.ok()) << srv.status();
  absl::Status s = HttpGet((*srv)->url("/"), absl::Milliseconds(200));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
}

TEST(HttpGet, BadUrlsAndRefusedConnections) {
  EXPECT_EQ(HttpGet("https://example.com/", absl::Seconds(1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpGet("http:///x", absl::Seconds(1)).code(), absl::StatusCode::kInvalidArgument);
  auto srv = testing::LocalHttpServer::Start();
  ASSERT_TRUE(srv.ok());
  const std::string url = (*srv)->url("/");
  srv->reset();  // the port is closed now
  EXPECT_EQ(HttpGet(url, absl::Seconds(2)).code(), absl::StatusCode::kUnavailable);
}

TEST(DnsLookupA, AsksTheResolver) {
  auto dns = testing::LocalDnsServer::Start();
  ASSERT_TRUE(dns.ok()) << dns.status();
  EXPECT_TRUE(DnsLookupA("ebpf.io", (*dns)->address(), absl::Seconds(5)).ok());
  EXPECT_TRUE(DnsLookupA("ebpf.io.", (*dns)->address(), absl::Seconds(5)).ok());
  absl::Status nx = DnsLookupA("nx.example", (*dns)->address(), absl::Seconds(5));
  EXPECT_EQ(nx.code(), absl::StatusCode::kUnavailable) << nx;
  EXPECT_EQ((*dns)->Names(), (std::vector<std::string>{"ebpf.io", "ebpf.io", "nx.example"}));
  EXPECT_EQ(DnsLookupA("a..b", (*dns)->address(), absl::Seconds(1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DnsLookupA("x", "localhost:53", absl::Seconds(1)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DnsLookupA, NoAnswerTimesOut) {
  // A bound UDP socket that never answers.
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<struct sockaddr*>(&sin), sizeof(sin)), 0);
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&sin), &len);
  absl::Status s = DnsLookupA("ebpf.io", absl::StrCat("127.0.0.1:", ntohs(sin.sin_port)), absl::Milliseconds(200));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  close(fd);
}

TEST(UserActionRunner, RunsRequestsOffTheCallersThread) {
  auto srv = testing::LocalHttpServer::Start();
  auto dns = testing::LocalDnsServer::Start();
  ASSERT_TRUE(srv.ok() && dns.ok());
  UserActionRunner r({.dns_server = (*dns)->address()});
  EXPECT_TRUE(r.Submit(UserActionKind::kGetUrl, (*srv)->url("/a")));
  EXPECT_TRUE(r.Submit(UserActionKind::kDnsLookup, "ebpf.io"));
  ASSERT_TRUE(r.WaitFinished(2, absl::Seconds(10)));
  EXPECT_EQ(r.Stats().done, 2u);
  EXPECT_EQ((*srv)->Requests(), (std::vector<std::string>{"GET /a HTTP/1.1"}));
  EXPECT_EQ((*dns)->Names(), (std::vector<std::string>{"ebpf.io"}));
}

// Workers stuck on a silent server: the queue fills, Submit returns at once
// and counts the drops; the stuck requests fail at their timeout.
TEST(UserActionRunner, FullQueueDropsWithoutBlocking) {
  auto silent = testing::LocalHttpServer::Start(/*silent=*/true);
  ASSERT_TRUE(silent.ok());
  UserActionRunner r({.queue_capacity = 2, .workers = 1, .timeout = absl::Milliseconds(300)});
  ASSERT_TRUE(r.Submit(UserActionKind::kGetUrl, (*silent)->url("/1")));
  ASSERT_TRUE((*silent)->WaitRequests(1, absl::Seconds(10)));  // the worker holds request 1
  EXPECT_TRUE(r.Submit(UserActionKind::kGetUrl, (*silent)->url("/2")));
  EXPECT_TRUE(r.Submit(UserActionKind::kGetUrl, (*silent)->url("/3")));
  EXPECT_FALSE(r.Submit(UserActionKind::kGetUrl, (*silent)->url("/4")));
  EXPECT_FALSE(r.Submit(UserActionKind::kDnsLookup, "ebpf.io"));
  EXPECT_EQ(r.Stats().dropped, 2u);
  ASSERT_TRUE(r.WaitFinished(3, absl::Seconds(10)));
  EXPECT_EQ(r.Stats().failed, 3u);
}

}  // namespace
}  // namespace tgd

namespace tgd {
namespace {

// Stopping does not wait for a request's timeout.
TEST(UserActionRunner, StopCancelsRunningRequests) {
  auto silent = testing::LocalHttpServer::Start(/*silent=*/true);
  ASSERT_TRUE(silent.ok());
  absl::Time start;
  {
    UserActionRunner r({.workers = 1, .timeout = absl::Seconds(600)});
    ASSERT_TRUE(r.Submit(UserActionKind::kGetUrl, (*silent)->url("/slow")));
    ASSERT_TRUE((*silent)->WaitRequests(1, absl::Seconds(10)));
    start = absl::Now();
  }
  // Far below the 600 s timeout (a generous bound, not a speed target).
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
}

}  // namespace
}  // namespace tgd
