// Tests of the protobuf-JSON encoder: the golden export lines, round trips,
// agreement with protobuf's own MessageToJsonString, escaping and timestamps.
#include "sensor/export/json_encoder.h"

#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "api/events.pb.h"
#include "api/sensors.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "sensor/export/test_events.h"

namespace tgd {
namespace {

using google::protobuf::util::MessageDifferencer;

std::string Encode(const google::protobuf::Message& m) {
  std::string out;
  absl::Status st = AppendMessageJson(m, &out);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

std::string Reference(const google::protobuf::Message& m) {
  std::string out;
  absl::Status st = ReferenceMessageJson(m, &out);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

std::string ReadGolden() {
  std::ifstream in("testdata/export/events.jsonl");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(JsonEncoderTest, GoldenExportLines) {
  std::vector<std::string> lines;
  for (const auto& ev : testing::GoldenEvents()) lines.push_back(Encode(ev));
  std::string got = absl::StrJoin(lines, "\n") + "\n";
  EXPECT_EQ(got, ReadGolden()) << "new golden content (testdata/export/events.jsonl):\n" << got;
}

TEST(JsonEncoderTest, GoldenLinesParseBackIntoTheSameMessages) {
  std::vector<std::string> lines = absl::StrSplit(ReadGolden(), '\n', absl::SkipEmpty());
  std::vector<tetragon::GetEventsResponse> events = testing::GoldenEvents();
  ASSERT_EQ(lines.size(), events.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    tetragon::GetEventsResponse back;
    ASSERT_TRUE(ParseMessageJson(lines[i], &back).ok()) << lines[i];
    EXPECT_TRUE(MessageDifferencer::Equals(back, events[i]))
        << back.DebugString() << "\nvs\n" << events[i].DebugString();
  }
}

TEST(JsonEncoderTest, FormatFacts) {
  std::string exec = Encode(testing::GoldenExec());
  // Tetragon's export: proto names, wrappers bare, RFC 3339 with nanoseconds,
  // enums by name, node_name and time after the event.
  EXPECT_EQ(exec.rfind("{\"process_exec\":{\"process\":{\"exec_id\":", 0), 0u) << exec;
  EXPECT_NE(exec.find("\"pid\":4242"), std::string::npos);
  EXPECT_NE(exec.find("\"start_time\":\"2024-11-23T10:00:00.123456789Z\""), std::string::npos);
  EXPECT_NE(exec.find("\"permitted\":[\"CAP_CHOWN\",\"CAP_NET_RAW\"]"), std::string::npos);
  EXPECT_NE(exec.find("\"euid\":0"), std::string::npos);  // a set wrapper at 0 is kept
  EXPECT_NE(exec.find("\"in_init_tree\":false"), std::string::npos);
  EXPECT_NE(exec.find("\"pod_labels\":{\"app\":\"web\",\"tier\":\"frontend\"}"), std::string::npos);
  EXPECT_EQ(exec.find("refcnt"), std::string::npos);  // zero scalars omitted
  EXPECT_NE(exec.find("},\"node_name\":\"node-a\",\"time\":\"2024-11-23T10:00:00.123456789Z\"}"),
            std::string::npos)
      << exec;
  std::string tp = Encode(testing::GoldenTracepoint());
  EXPECT_NE(tp.find("{\"long_arg\":\"-100\"}"), std::string::npos) << tp;
  EXPECT_NE(tp.find("{\"size_arg\":\"18446744073709551615\"}"), std::string::npos) << tp;
  EXPECT_NE(tp.find("{\"bytes_arg\":\"AAH+/w==\"}"), std::string::npos) << tp;
  EXPECT_NE(tp.find("\"action\":\"KPROBE_ACTION_POST\""), std::string::npos) << tp;
}

// The fast encoder writes what protobuf's MessageToJsonString writes (with
// single-entry maps: protobuf C++ does not sort map keys, Go's protojson
// and this encoder do).
TEST(JsonEncoderTest, AgreesWithProtobufJson) {
  for (auto ev : testing::GoldenEvents()) {
    if (ev.has_process_exec()) {
      ev.mutable_process_exec()->mutable_process()->mutable_pod()->mutable_pod_labels()->erase("tier");
    }
    if (ev.has_process_exit()) {
      ev.mutable_process_exit()->mutable_process()->mutable_pod()->mutable_pod_labels()->erase("tier");
    }
    if (ev.has_process_tracepoint()) {
      ev.mutable_process_tracepoint()->mutable_process()->mutable_pod()->mutable_pod_labels()->erase(
          "tier");
    }
    EXPECT_EQ(Encode(ev), Reference(ev));
  }
  tetragon::GetEventsResponse empty;
  EXPECT_EQ(Encode(empty), "{}");
  EXPECT_EQ(Encode(empty), Reference(empty));
}

TEST(JsonEncoderTest, TimestampsAgreeWithProtobuf) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> secs(-62135596800, 253402300799);
  const int32_t nanos[] = {0, 1, 999999999, 5000, 120000000, 123456000, 7};
  for (int i = 0; i < 2000; ++i) {
    tetragon::GetEventsResponse ev;
    ev.mutable_time()->set_seconds(i < 4 ? std::vector<int64_t>{0, -1, -62135596800, 253402300799}[i]
                                         : secs(rng));
    ev.mutable_time()->set_nanos(nanos[i % 7]);
    ASSERT_EQ(Encode(ev), Reference(ev)) << ev.ShortDebugString();
    // Again: the date text of recent seconds values is reused.
    ASSERT_EQ(Encode(ev), Reference(ev)) << ev.ShortDebugString();
    ev.mutable_time()->set_nanos(nanos[(i + 1) % 7]);
    ASSERT_EQ(Encode(ev), Reference(ev)) << ev.ShortDebugString();
  }
}

TEST(JsonEncoderTest, StringEscaping) {
  tetragon::GetEventsResponse ev;
  ev.set_node_name(std::string("a\"b\\c\n\t\r\b\f\x01\x1f\x7f/é€😀<>&\u2028", 29));
  EXPECT_EQ(Encode(ev), "{\"node_name\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\x7f/é€😀<>&\u2028\"}");
  // protobuf C++ escapes DEL, '<', '>' and U+2028 too; Go's protojson (and
  // so Tetragon's file) does not. Both parse to the same string.
  EXPECT_EQ(Reference(ev),
            "{\"node_name\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f/é€😀\\u003c\\u003e&\\u2028\"}");
  tetragon::GetEventsResponse back;
  ASSERT_TRUE(ParseMessageJson(Encode(ev), &back).ok());
  EXPECT_EQ(back.node_name(), ev.node_name());
  // Invalid UTF-8 (kernel paths can hold any bytes): one U+FFFD per bad byte.
  ev.set_node_name(std::string("x\xff\xc3(\xe2\x82 \xed\xa0\x80y", 11));
  EXPECT_EQ(Encode(ev), "{\"node_name\":\"x\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd "
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy\"}");
  ASSERT_TRUE(ParseMessageJson(Encode(ev), &back).ok());
}

TEST(JsonEncoderTest, UnknownEnumValueIsANumber) {
  tetragon::GetEventsResponse ev;
  ev.mutable_process_tracepoint()->set_action(static_cast<tetragon::KprobeAction>(999));
  EXPECT_EQ(Encode(ev), "{\"process_tracepoint\":{\"action\":999}}");
}

TEST(JsonEncoderTest, FieldMaskAndDurationFallBackOrAgree) {
  tetragon::GetEventsRequest req;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(field_filters { event_set: PROCESS_EXEC fields { paths: "process.binary" paths: "parent" } }
           aggregation_options { window_size { seconds: -3 nanos: -500000000 } channel_buffer_size: 7 })pb",
      &req));
  EXPECT_EQ(Encode(req), Reference(req));
  tetragon::AggregationOptions agg;
  agg.mutable_window_size()->set_seconds(90);
  agg.mutable_window_size()->set_nanos(1000);
  EXPECT_EQ(Encode(agg), Reference(agg));
  EXPECT_EQ(Encode(agg), "{\"window_size\":\"90.000001s\"}");
}

}  // namespace
}  // namespace tgd

namespace tgd {
namespace {

// Sets every field of `m` (recursively, to `depth`) to a non-default value
// when rng says so: the typed fast paths must write exactly what the
// reflection path writes for any combination.
void Fill(google::protobuf::Message* m, std::mt19937* rng, int depth, double p) {
  using google::protobuf::FieldDescriptor;
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  std::bernoulli_distribution take(p);
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!take(*rng)) continue;
    if (f->containing_oneof() && r->HasOneof(*m, f->containing_oneof())) continue;
    int n = f->is_repeated() ? 1 + static_cast<int>((*rng)() % 3) : 1;
    for (int k = 0; k < n; ++k) {
      uint32_t v = 1 + (*rng)() % 1000;
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(m, f, -static_cast<int>(v)) : r->SetInt32(m, f, -static_cast<int>(v));
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          f->is_repeated() ? r->AddUInt32(m, f, v) : r->SetUInt32(m, f, v);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(m, f, -int64_t{v} << 33) : r->SetInt64(m, f, -int64_t{v} << 33);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          f->is_repeated() ? r->AddUInt64(m, f, uint64_t{v} << 40) : r->SetUInt64(m, f, uint64_t{v} << 40);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          f->is_repeated() ? r->AddDouble(m, f, v / 8.0) : r->SetDouble(m, f, v / 8.0);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          f->is_repeated() ? r->AddFloat(m, f, v / 4.0f) : r->SetFloat(m, f, v / 4.0f);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          f->is_repeated() ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const auto* e = f->enum_type();
          int val = e->value(static_cast<int>(v % e->value_count()))->number();
          f->is_repeated() ? r->AddEnumValue(m, f, val) : r->SetEnumValue(m, f, val);
          break;
        }
        case FieldDescriptor::CPPTYPE_STRING: {
          std::string s = absl::StrCat(f->name(), "-", v, (v % 5 == 0) ? "\"\\\n\x01" : "");
          f->is_repeated() ? r->AddString(m, f, s) : r->SetString(m, f, s);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE: {
          if (depth <= 0) break;
          google::protobuf::Message* sub = f->is_repeated() ? r->AddMessage(m, f) : r->MutableMessage(m, f);
          const std::string& type = f->message_type()->full_name();
          if (type == "google.protobuf.Timestamp") {
            auto* ts = static_cast<google::protobuf::Timestamp*>(sub);
            ts->set_seconds(1732356000 + v);
            ts->set_nanos(static_cast<int32_t>(v * 1000 + (v % 2)));
          } else if (type == "google.protobuf.Duration") {
            auto* du = static_cast<google::protobuf::Duration*>(sub);
            du->set_seconds(v);
          } else if (type == "google.protobuf.Any" || type == "google.protobuf.FieldMask") {
            // protobuf's own encoder renders these (fallback); leave empty.
          } else if (f->is_map()) {
            // Distinct keys (a JSON object cannot repeat one), any value.
            Fill(sub, rng, depth - 1, 1.0);
            const auto* kf = f->message_type()->map_key();
            if (kf->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
              sub->GetReflection()->SetString(sub, kf, absl::StrCat("key-", 3 - k));
            }
          } else {
            Fill(sub, rng, depth - 1, p);
          }
          break;
        }
      }
    }
  }
}

TEST(JsonEncoderTest, SharedProcessJsonIsWrittenOnceAndSpliced) {
  tetragon::Process p;
  p.set_exec_id("aWQ=");
  p.set_binary("/bin/sh");
  p.mutable_pid()->set_value(42);
  (*p.mutable_pod()->mutable_pod_labels())["b"] = "2";
  (*p.mutable_pod()->mutable_pod_labels())["a"] = "1";
  tetragon::GetEventsResponse ev;
  ev.mutable_process_exec()->unsafe_arena_set_allocated_process(&p);  // not owned (released below)
  ev.set_node_name("n");
  const std::string plain = Encode(ev);
  std::string reflected;
  ASSERT_TRUE(AppendMessageJsonReflection(ev, &reflected).ok());
  EXPECT_EQ(plain, reflected);
  RegisterSharedProcess(&p);
  EXPECT_EQ(Encode(ev), plain);  // writes and caches
  EXPECT_EQ(Encode(ev), plain);  // splices
  tetragon::GetEventsResponse exit;
  exit.mutable_process_exit()->unsafe_arena_set_allocated_parent(&p);
  exit.mutable_process_exit()->set_status(1);
  std::string exit_reflected;
  ASSERT_TRUE(AppendMessageJsonReflection(exit, &exit_reflected).ok());
  EXPECT_EQ(Encode(exit), exit_reflected);
  UnregisterSharedProcess(&p);
  EXPECT_EQ(Encode(ev), plain);
  ev.mutable_process_exec()->unsafe_arena_release_process();
  exit.mutable_process_exit()->unsafe_arena_release_parent();
}

TEST(JsonEncoderTest, SharedSubMessageJsonIsSplicedIntoEveryProcess) {
  tetragon::Pod pod;
  pod.set_namespace_("shop");
  pod.set_name("web-1");
  (*pod.mutable_pod_labels())["app"] = "web";
  tetragon::Process a, b;
  a.set_exec_id("YQ==");
  b.set_exec_id("Yg==");
  b.mutable_pid()->set_value(7);
  a.unsafe_arena_set_allocated_pod(&pod);  // not owned (released below)
  b.unsafe_arena_set_allocated_pod(&pod);
  RegisterSharedMessage(&pod);
  for (int round = 0; round < 2; ++round) {
    for (const tetragon::Process* p : {&a, &b}) {
      std::string fast, reflected;
      ASSERT_TRUE(AppendMessageJson(*p, &fast).ok());
      ASSERT_TRUE(AppendMessageJsonReflection(*p, &reflected).ok());
      EXPECT_EQ(fast, reflected);
      tetragon::GetEventsResponse ev;
      ev.mutable_process_exec()->unsafe_arena_set_allocated_process(const_cast<tetragon::Process*>(p));
      std::string ev_fast, ev_reflected;
      ASSERT_TRUE(AppendMessageJson(ev, &ev_fast).ok());
      ASSERT_TRUE(AppendMessageJsonReflection(ev, &ev_reflected).ok());
      EXPECT_EQ(ev_fast, ev_reflected);
      ev.mutable_process_exec()->unsafe_arena_release_process();
    }
  }
  UnregisterSharedMessage(&pod);
  a.unsafe_arena_release_pod();
  b.unsafe_arena_release_pod();
}

TEST(JsonEncoderTest, TypedFastPathsMatchReflection) {
  const char* kEvents[] = {"process_exec", "process_exit", "process_tracepoint", "process_kprobe",
                           "process_lsm"};
  int compared = 0;
  for (int seed = 0; seed < 300; ++seed) {
    std::mt19937 rng(seed);
    tetragon::GetEventsResponse ev;
    // Fill one event kind fully or partly, plus the envelope fields.
    const auto* f = tetragon::GetEventsResponse::descriptor()->FindFieldByName(kEvents[seed % 5]);
    double p = seed < 50 ? 1.0 : 0.5;
    Fill(ev.GetReflection()->MutableMessage(&ev, f), &rng, 4, p);
    ev.set_node_name("n");
    if (seed % 2) ev.mutable_time()->set_seconds(seed);
    if (seed % 3 == 0) (*ev.mutable_node_labels())["k"] = "v";
    if (seed % 7 == 0) ev.set_cluster_name("c");
    std::string fast, slow;
    ASSERT_TRUE(AppendMessageJson(ev, &fast).ok());
    ASSERT_TRUE(AppendMessageJsonReflection(ev, &slow).ok());
    ASSERT_EQ(fast, slow) << "seed " << seed;
    tetragon::GetEventsResponse back;
    absl::Status pst = ParseMessageJson(fast, &back);
    ASSERT_TRUE(pst.ok()) << pst << "\n" << fast;
    ASSERT_TRUE(MessageDifferencer::Equals(back, ev)) << "seed " << seed;
    ++compared;
  }
  EXPECT_EQ(compared, 300);
}

}  // namespace
}  // namespace tgd
