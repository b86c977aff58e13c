// Tests of the metrics registry, the text format, the HTTP endpoint (scraped
// with a plain socket) and the event counter.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/metrics/http_server.h"
#include "sensor/metrics/registry.h"
#include "sensor/metrics/sensor_metrics.h"

namespace tgd::metrics {
namespace {

// A TCP connection to 127.0.0.1:port, or -1. Reads on it give up after
// 60 s, so that a test fails instead of hanging.
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// True when the peer has closed `fd` (or reset it), without waiting.
bool ClosedByPeer(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  char c;
  return (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0 || recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

// Sends `request` to 127.0.0.1:port and returns the whole response.
std::string Http(int port, const std::string& request) {
  int fd = Connect(port);
  if (fd < 0) return "connect failed";
  send(fd, request.data(), request.size(), 0);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  close(fd);
  return out;
}

// Parses exposition lines into "name{labels}" -> value; checks every line
// is a comment or a well-formed sample.
std::map<std::string, std::string> ParseSamples(const std::string& body) {
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (-?[0-9]+)$)");
  static const std::regex kComment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::map<std::string, std::string> out;
  for (absl::string_view l : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    std::string line(l);
    std::smatch m;
    if (std::regex_match(line, m, kSample)) {
      out[m[1]] = m[3];
    } else {
      EXPECT_TRUE(std::regex_match(line, kComment)) << "malformed line: " << line;
    }
  }
  return out;
}

TEST(RegistryTest, RendersTextFormat) {
  Registry r;
  CounterFamily* c = r.AddCounter("x_total", "A counter.\nTwo lines \\ here.", {"kind"});
  GaugeFamily* g = r.AddGauge("y_bytes", "A gauge.");
  GaugeFamily* empty = r.AddGauge("z", "Labelled, no children.", {"policy"});
  (void)empty;
  c->With({"b"})->Inc(2);
  c->With({"a\"q\\\n"})->Inc();
  g->Get()->Set(-5);
  EXPECT_EQ(r.Render(),
            "# HELP x_total A counter.\\nTwo lines \\\\ here.\n"
            "# TYPE x_total counter\n"
            "x_total{kind=\"a\\\"q\\\\\\n\"} 1\n"
            "x_total{kind=\"b\"} 2\n"
            "# HELP y_bytes A gauge.\n"
            "# TYPE y_bytes gauge\n"
            "y_bytes -5\n"
            "# HELP z Labelled, no children.\n"
            "# TYPE z gauge\n");
}

TEST(RegistryTest, CollectorsRunAtScrapeTime) {
  Registry r;
  GaugeFamily* mem = r.AddGauge("mem", "m", {"policy"});
  int scrapes = 0;
  r.AddCollector([&] {
    ++scrapes;
    mem->Clear();
    mem->With({absl::StrCat("p", scrapes)})->Set(scrapes * 100);
  });
  EXPECT_NE(r.Render().find("mem{policy=\"p1\"} 100\n"), std::string::npos);
  std::string second = r.Render();
  EXPECT_NE(second.find("mem{policy=\"p2\"} 200\n"), std::string::npos);
  EXPECT_EQ(second.find("p1"), std::string::npos);
}

TEST(RegistryTest, ConcurrentIncrementsAreExact) {
  Registry r;
  Counter* c = r.AddCounter("n_total", "n")->Get();
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([c] {
      for (int i = 0; i < 100000; ++i) c->Inc();
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c->value(), 400000u);
}

TEST(MetricsServerTest, ServesScrapesOverHttp) {
  Registry r;
  SensorMetrics m(&r);
  m.events_total->With({"PROCESS_EXEC"})->Inc(3);
  m.policies_loaded->Get()->Set(2);
  m.dispatcher_runs_total->With({"raw_tp/sys_enter"})->Set(1234);
  m.policy_kernel_memory_bytes->With({"block-curl"})->Set(4096);
  auto s = MetricsServer::Start("127.0.0.1:0", false, &r);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_GT((*s)->port(), 0);

  std::string resp = Http((*s)->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
  EXPECT_NE(resp.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  size_t body_at = resp.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  std::string body = resp.substr(body_at + 4);
  EXPECT_NE(resp.find(absl::StrCat("Content-Length: ", body.size(), "\r\n")), std::string::npos);
  auto samples = ParseSamples(body);
  EXPECT_EQ(samples["tgdispatch_events_total{type=\"PROCESS_EXEC\"}"], "3");
  EXPECT_EQ(samples["tgdispatch_events_lost_total{source=\"ringbuf\"}"], "0");
  EXPECT_EQ(samples["tgdispatch_events_lost_total{source=\"subscriber\"}"], "0");
  EXPECT_EQ(samples["tgdispatch_events_lost_total{source=\"policy_ringbuf\"}"], "0");
  EXPECT_EQ(samples["tgdispatch_policies_loaded"], "2");
  EXPECT_EQ(samples["tgdispatch_dispatcher_runs_total{hook=\"raw_tp/sys_enter\"}"], "1234");
  EXPECT_EQ(samples["tgdispatch_policy_kernel_memory_bytes{policy=\"block-curl\"}"], "4096");
  EXPECT_NE(body.find("# TYPE tgdispatch_tail_call_overflows_total counter\n"), std::string::npos);
  EXPECT_NE(body.find("# TYPE tgdispatch_rate_limited_events_total counter\n"), std::string::npos);
  EXPECT_NE(body.find("# TYPE tgdispatch_truncated_events_total counter\n"), std::string::npos);

  EXPECT_EQ(Http((*s)->port(), "GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Http((*s)->port(), "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  // civetweb answers what it cannot parse in HTTP/1.0.
  EXPECT_EQ(Http((*s)->port(), "garbage\r\n\r\n").substr(0, 13), "HTTP/1.0 400 ");
  std::string head = Http((*s)->port(), "HEAD /metrics?x=1 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.0 200", 0), 0u) << head;  // the request's version
  EXPECT_EQ(head.find("tgdispatch_"), std::string::npos);
  (*s)->Stop();
  EXPECT_EQ(Http((*s)->port(), "GET /metrics HTTP/1.1\r\n\r\n"), "connect failed");
}

// Slow clients (connected, half a request sent, then silent) each hold a
// worker, never the whole server: a scrape made while 200 of them are held
// is answered, and they are still connected when it is (their deadline is
// far away). The hand-written one-thread server served the scrape only after
// every slow client before it had timed out (200 x 5 s).
TEST(MetricsServerTest, SlowClientsDoNotStopAScrape) {
  Registry r;
  SensorMetrics m(&r);
  m.policies_loaded->Get()->Set(7);
  MetricsServerOptions o;
  o.request_timeout_ms = 10 * 60 * 1000;
  auto s = MetricsServer::Start("127.0.0.1:0", false, &r, o);
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<int> slow;
  for (int i = 0; i < 200; ++i) {
    int fd = Connect((*s)->port());
    ASSERT_GE(fd, 0) << "slow client " << i;
    const std::string half = "GET /metrics HTTP/1.1\r\nHost: sl";
    ASSERT_EQ(send(fd, half.data(), half.size(), 0), static_cast<ssize_t>(half.size()));
    slow.push_back(fd);
  }
  std::string resp = Http((*s)->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
  EXPECT_NE(resp.find("tgdispatch_policies_loaded 7\n"), std::string::npos);
  int still_held = 0;
  for (int fd : slow) still_held += !ClosedByPeer(fd);
  EXPECT_EQ(still_held, 200);
  // Stopping does not wait for the held clients' deadline (printed, not
  // asserted: bench figures are not test assertions).
  absl::Time stop = absl::Now();
  (*s)->Stop();
  std::cout << "stopped with 200 slow clients held in " << absl::FormatDuration(absl::Now() - stop) << "\n";
  for (int fd : slow) close(fd);
}

// The request deadline is for the whole request, not per read: a client
// that trickles its headers one byte at a time, each byte well within any
// per-read timeout, is cut off once the deadline has passed.
TEST(MetricsServerTest, TricklingClientIsCutOff) {
  Registry r;
  MetricsServerOptions o;
  o.request_timeout_ms = 300;
  auto s = MetricsServer::Start("127.0.0.1:0", false, &r, o);
  ASSERT_TRUE(s.ok()) << s.status();
  int fd = Connect((*s)->port());
  ASSERT_GE(fd, 0);
  const std::string start = "GET /metrics HTTP/1.1\r\nX-Slow: ";
  send(fd, start.data(), start.size(), MSG_NOSIGNAL);
  // 6,000 bytes at one per 20 ms would take 2 minutes, under the request
  // size limit; the deadline ends it long before.
  bool closed = false;
  for (int i = 0; i < 6000 && !closed; ++i) {
    closed = send(fd, "a", 1, MSG_NOSIGNAL) != 1 || ClosedByPeer(fd);
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(closed) << "the server kept a trickling client for 2 minutes";
  close(fd);
}

TEST(MetricsServerTest, AddressChecks) {
  EXPECT_TRUE(CheckListenAddress("localhost:2113", false, "--metrics-address").ok());
  EXPECT_TRUE(CheckListenAddress("[::1]:2113", false, "--metrics-address").ok());
  absl::Status st = CheckListenAddress(":2113", false, "--metrics-address");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--allow-remote"), std::string::npos);
  EXPECT_TRUE(CheckListenAddress(":2113", true, "--metrics-address").ok());
  EXPECT_FALSE(CheckListenAddress("0.0.0.0:2113", false, "--metrics-address").ok());
  EXPECT_FALSE(CheckListenAddress("localhost", false, "--metrics-address").ok());
  EXPECT_FALSE(CheckListenAddress("localhost:70000", false, "--metrics-address").ok());
  EXPECT_TRUE(CheckListenAddress("127.0.0.2:2113", false, "--metrics-address").ok());
  for (const char* a : {"127.evil.example:2113", "127.0.0.1.nip.io:2113", "[::ffff:127.0.0.1]:2113"}) {
    absl::Status named = CheckListenAddress(a, false, "--metrics-address");
    EXPECT_EQ(named.code(), absl::StatusCode::kInvalidArgument) << a;
    EXPECT_NE(named.message().find("not a loopback address"), std::string::npos) << a;
  }
  Registry r;
  auto s = MetricsServer::Start("10.1.2.3:2113", false, &r);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  // A port in use is UNAVAILABLE, with the flag named.
  auto a = MetricsServer::Start("127.0.0.1:0", false, &r);
  ASSERT_TRUE(a.ok());
  auto b = MetricsServer::Start(absl::StrCat("127.0.0.1:", (*a)->port()), false, &r);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(b.status().message().find("--metrics-address"), std::string::npos);
}

TEST(EventCounterTest, CountsEventsByType) {
  Registry r;
  SensorMetrics m(&r);
  EventBus bus;
  auto counter = EventCounter::Start(&bus, m.events_total);
  tetragon::GetEventsResponse exec, exit, tp;
  exec.mutable_process_exec();
  exit.mutable_process_exit();
  tp.mutable_process_tracepoint();
  for (int i = 0; i < 6; ++i) bus.Publish(exec);
  for (int i = 0; i < 3; ++i) bus.Publish(exit);
  bus.Publish(tp);
  bus.Close();
  counter.reset();  // drains and stops
  EXPECT_EQ(m.events_total->With({"PROCESS_EXEC"})->value(), 6u);
  EXPECT_EQ(m.events_total->With({"PROCESS_EXIT"})->value(), 3u);
  EXPECT_EQ(m.events_total->With({"PROCESS_TRACEPOINT"})->value(), 1u);
  EXPECT_EQ(EventTypeName(tetragon::GetEventsResponse()), "UNDEF");
}

// Per-hook loss counts as the dispatch datapath keeps them: a hook's slot
// is zeroed when its last policy goes and may come back under the same key.
TEST(KeyedCounterTotalTest, EachKeyStaysMonotonicWhenItsCountRestarts) {
  KeyedCounterTotal t;
  EXPECT_EQ(t.Update("tracepoint/a", 5), 5u);
  EXPECT_EQ(t.Update("tracepoint/b", 7), 7u);
  EXPECT_EQ(t.Update("tracepoint/a", 9), 9u);
  EXPECT_EQ(t.Update("tracepoint/a", 2), 11u);  // the hook's slot was zeroed and reused
  EXPECT_EQ(t.Update("tracepoint/b", 7), 7u);
}

TEST(CounterTotalTest, StaysMonotonicWhenSlotsResetOrVanish) {
  CounterTotal t;
  EXPECT_EQ(t.Update({}), 0u);
  EXPECT_EQ(t.Update({{"tp/a", 3}, {"tp/b", 1}}), 4u);
  EXPECT_EQ(t.Update({{"tp/a", 5}, {"tp/b", 1}}), 6u);
  EXPECT_EQ(t.Update({{"tp/b", 2}}), 7u);            // tp/a unloaded: its 5 stay counted
  EXPECT_EQ(t.Update({{"tp/a", 1}, {"tp/b", 2}}), 8u);  // tp/a again, from zero
  EXPECT_EQ(t.Update({{"tp/a", 0}, {"tp/b", 4}}), 10u);  // tp/a reset (below last): 0 new
  EXPECT_EQ(t.total(), 10u);
}

TEST(CounterTotalTest, PolicyRingbufLossesReachTheLostTotal) {
  Registry r;
  SensorMetrics m(&r);
  CounterTotal lost;
  std::map<std::string, uint64_t> hooks = {{"tracepoint/syscalls/sys_enter_openat", 7},
                                           {"raw_tp/sys_enter", 2}};
  r.AddCollector([&] { m.events_lost_total->With({kLostPolicyRingbuf})->Set(lost.Update(hooks)); });
  auto samples = ParseSamples(r.Render());
  EXPECT_EQ(samples["tgdispatch_events_lost_total{source=\"policy_ringbuf\"}"], "9");
  EXPECT_EQ(samples["tgdispatch_events_lost_total{source=\"ringbuf\"}"], "0");
  hooks.erase("raw_tp/sys_enter");
  samples = ParseSamples(r.Render());
  EXPECT_EQ(samples["tgdispatch_events_lost_total{source=\"policy_ringbuf\"}"], "9");
}

}  // namespace
}  // namespace tgd::metrics
