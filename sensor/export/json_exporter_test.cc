// Tests of the JSON exporter: lines in the file, filters from Tetragon's flag
// syntax, rotation under load, and a stalled subscriber not blocking it.
#include "sensor/export/json_exporter.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "sensor/export/json_encoder.h"
#include "sensor/export/test_events.h"

namespace tgd {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& path) {
  return absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty());
}

class JsonExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/exporter-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    opts_.file.path = dir_ + "/events.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Waits until `n` events were exported (or 10 s passed).
  static void WaitExported(const JsonExporter& e, uint64_t n) {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (e.stats().exported + e.stats().filtered < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  std::string dir_;
  JsonExporterOptions opts_;
};

TEST_F(JsonExporterTest, WritesOneJsonLinePerEventThatParsesBack) {
  EventBus bus;
  auto e = JsonExporter::Start(&bus, opts_);
  ASSERT_TRUE(e.ok()) << e.status();
  for (const auto& ev : testing::GoldenEvents()) bus.Publish(ev);
  (*e)->Stop();
  std::vector<std::string> lines = Lines(opts_.file.path);
  std::vector<tetragon::GetEventsResponse> events = testing::GoldenEvents();
  ASSERT_EQ(lines.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    tetragon::GetEventsResponse back;
    ASSERT_TRUE(ParseMessageJson(lines[i], &back).ok());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, events[i]));
  }
  EXPECT_EQ((*e)->stats().exported, 3u);
  EXPECT_EQ((*e)->stats().dropped, 0u);
}

TEST_F(JsonExporterTest, LinesAppearWhileRunning) {
  EventBus bus;
  auto e = JsonExporter::Start(&bus, opts_);
  ASSERT_TRUE(e.ok());
  bus.Publish(testing::GoldenExec());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (Lines(opts_.file.path).empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(Lines(opts_.file.path).size(), 1u);
  bus.Close();  // the exporter ends with the bus
  (*e)->Stop();
}

TEST_F(JsonExporterTest, ParseFilterListAcceptsTetragonsSyntax) {
  auto f = ParseFilterList(
      "{\"event_set\":[\"PROCESS_EXEC\", \"PROCESS_EXIT\"]}\n"
      "  {\"binary_regex\":[\"^/usr/bin/\"]} {\"namespace\":[\"\", \"kube-system\"]}\n"
      "{\"health_check\":true}{\"pid\":[1,2]}",
      "--export-allowlist");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->size(), 5);
  EXPECT_EQ((*f)[0].event_set_size(), 2);
  EXPECT_EQ((*f)[0].event_set(1), tetragon::PROCESS_EXIT);
  EXPECT_EQ((*f)[1].binary_regex(0), "^/usr/bin/");
  EXPECT_EQ((*f)[2].namespace__size(), 2);
  EXPECT_TRUE((*f)[3].health_check().value());
  EXPECT_EQ((*f)[4].pid(1), 2u);
  EXPECT_EQ(ParseFilterList("  \n", "--x")->size(), 0);
  // lowerCamel names and a '}' inside a string work too.
  f = ParseFilterList("{\"binaryRegex\":[\"a}b\"]}", "--x");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)[0].binary_regex(0), "a}b");

  auto bad = ParseFilterList("{\"event_set\":[\"PROCESS_EXEC\"]} {\"no_such_field\":1}", "--export-denylist");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--export-denylist: filter 2"), std::string::npos) << bad.status();
  bad = ParseFilterList("[{\"pid\":[1]}]", "--export-allowlist");
  EXPECT_NE(bad.status().message().find("want a JSON object"), std::string::npos) << bad.status();
  bad = ParseFilterList("{\"pid\":[1]", "--export-allowlist");
  EXPECT_NE(bad.status().message().find("unterminated"), std::string::npos) << bad.status();
}

TEST_F(JsonExporterTest, AllowAndDenyLists) {
  opts_.allowlist = "{\"event_set\":[\"PROCESS_EXEC\",\"PROCESS_TRACEPOINT\"]}";
  opts_.denylist = "{\"binary_regex\":[\"^/bin/sh$\"]}";
  EventBus bus;
  auto e = JsonExporter::Start(&bus, opts_);
  ASSERT_TRUE(e.ok()) << e.status();
  auto sh = testing::GoldenExec();
  sh.mutable_process_exec()->mutable_process()->set_binary("/bin/sh");
  bus.Publish(testing::GoldenExec());        // allowed
  bus.Publish(testing::GoldenExit());        // not in the allow list
  bus.Publish(sh);                           // denied
  bus.Publish(testing::GoldenTracepoint());  // allowed
  (*e)->Stop();
  std::vector<std::string> lines = Lines(opts_.file.path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("{\"process_exec\":", 0), 0u);
  EXPECT_EQ(lines[1].rfind("{\"process_tracepoint\":", 0), 0u);
  EXPECT_EQ((*e)->stats().filtered, 2u);

  opts_.allowlist = "{\"binary_regex\":[\"(\"]}";
  auto bad = JsonExporter::Start(&bus, opts_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("binary_regex"), std::string::npos) << bad.status();
  opts_.allowlist = "{\"event_set\":[\"NOT_AN_EVENT\"]}";
  bad = JsonExporter::Start(&bus, opts_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--export-allowlist: filter 1"), std::string::npos) << bad.status();
}

TEST_F(JsonExporterTest, RotationKeepsBoundedCompleteFiles) {
  opts_.file.max_size_bytes = 8 << 10;  // ~3 events per file
  opts_.file.max_backups = 2;
  EventBus bus;
  auto e = JsonExporter::Start(&bus, opts_);
  ASSERT_TRUE(e.ok());
  const int kEvents = 60;
  for (int i = 0; i < kEvents; ++i) {
    auto ev = testing::GoldenExec();
    ev.mutable_process_exec()->mutable_process()->mutable_pid()->set_value(i);
    bus.Publish(ev);
  }
  (*e)->Stop();
  EXPECT_EQ((*e)->stats().exported, static_cast<uint64_t>(kEvents));
  EXPECT_GT((*e)->stats().rotations, 5u);
  int files = 0;
  uint32_t last_pid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    ++files;
    for (const std::string& l : Lines(entry.path().string())) {
      tetragon::GetEventsResponse back;
      ASSERT_TRUE(ParseMessageJson(l, &back).ok()) << entry.path();  // whole lines only
      if (entry.path() == opts_.file.path) last_pid = back.process_exec().process().pid().value();
    }
  }
  EXPECT_EQ(files, 3);  // events.log + 2 backups
  EXPECT_EQ(last_pid, static_cast<uint32_t>(kEvents - 1));
}

TEST_F(JsonExporterTest, StalledSubscriberDoesNotBlockTheExporter) {
  EventBus bus;
  auto stalled = bus.Subscribe(4);  // a GetEvents client that never reads
  auto e = JsonExporter::Start(&bus, opts_);
  ASSERT_TRUE(e.ok());
  const int kEvents = 2000;
  auto ev = std::make_shared<const tetragon::GetEventsResponse>(testing::GoldenTracepoint());
  absl::Time start = absl::Now();
  for (int i = 0; i < kEvents; ++i) bus.Publish(ev);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // publishing never waited
  WaitExported(**e, kEvents);
  EXPECT_EQ((*e)->stats().exported, static_cast<uint64_t>(kEvents));
  EXPECT_EQ((*e)->stats().dropped, 0u);
  EXPECT_EQ(stalled->dropped(), static_cast<uint64_t>(kEvents - 4));
  (*e)->Stop();
  EXPECT_EQ(Lines(opts_.file.path).size(), static_cast<size_t>(kEvents));
}

TEST_F(JsonExporterTest, ExporterThatFallsBehindCountsDrops) {
  opts_.queue_capacity = 1;
  EventBus bus;
  auto e = JsonExporter::Start(&bus, opts_);
  ASSERT_TRUE(e.ok());
  auto ev = std::make_shared<const tetragon::GetEventsResponse>(testing::GoldenExec());
  for (int i = 0; i < 5000; ++i) bus.Publish(ev);
  (*e)->Stop();
  JsonExporter::Stats s = (*e)->stats();
  EXPECT_EQ(s.exported + s.dropped, 5000u);
  EXPECT_GT(s.dropped, 0u);
  EXPECT_EQ(Lines(opts_.file.path).size(), s.exported);
}

}  // namespace
}  // namespace tgd
