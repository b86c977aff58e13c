// LoaderSensor without the kernel: the event as Tetragon renders it (field
// names in JSON, the build id as base64 bytes), and Tetragon's reporting
// rules (records without a build id are dropped, one event per (pid, path)).
#include "sensor/loaderevents/loader_sensor.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sensor/export/json_encoder.h"

namespace tgd {
namespace {

MmapRecord Record(uint32_t pid, const std::string& path, const std::string& id) {
  MmapRecord r;
  r.pid = pid;
  r.tid = pid;
  r.ktime = 5000000123;
  r.path = path;
  r.build_id = id;
  return r;
}

TEST(LoaderSensorTest, RendersAsTetragonsProcessLoader) {
  ProcessCache::ForEvent found;
  auto p = std::make_shared<tetragon::Process>();
  p->mutable_pid()->set_value(42);
  p->set_binary("/usr/bin/cat");
  found.process = p;
  tetragon::GetEventsResponse ev = LoaderSensor::BuildEvent(
      Record(42, "/usr/lib/libc.so.6", std::string("\x01\x02\xfe\xff", 4)), found, "n1", 1000000000);
  std::string json;
  ASSERT_TRUE(AppendMessageJson(ev, &json).ok());
  EXPECT_NE(json.find(R"("process_loader":{"process":{)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("path":"/usr/lib/libc.so.6","buildid":"AQL+/w=="})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("node_name":"n1")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("time":"1970-01-01T00:00:06.000000123Z")"), std::string::npos) << json;
}

TEST(LoaderSensorTest, OneEventPerProcessAndPathWithABuildId) {
  // Handle() without a reader: the reporting rules alone.
  EventBus bus;
  auto sub = bus.Subscribe(100);
  LoaderSensorOptions o;
  o.bus = &bus;
  o.dedup_entries = 2;
  auto s = LoaderSensor::CreateForTest(o);
  s->Handle(Record(1, "/a", "id"));
  s->Handle(Record(1, "/a", "id"));  // repeat
  s->Handle(Record(1, "/b", ""));    // no build id: never reported (as Tetragon)
  s->Handle(Record(2, "/a", "id"));  // another process
  s->Handle(Record(3, "/c", "id"));  // evicts (1, /a) from the LRU of 2
  s->Handle(Record(1, "/a", "id"));  // reported again
  std::vector<std::string> got;
  EventBus::Event ev;
  while (sub->Next(&ev, absl::Now() + absl::Milliseconds(20))) {
    got.push_back(ev->process_loader().path());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"/a", "/a", "/c", "/a"}));
  EXPECT_EQ(s->stats().duplicates, 1u);
  EXPECT_EQ(s->stats().no_build_id, 1u);
}

// --enable-ancestors=base,loader: the event carries the parent's parent and
// on, as Tetragon's process_loader.
TEST(LoaderSensorTest, AncestorsWhenEnabled) {
  ProcessCache cache("n1", 100, 0);
  for (uint32_t pid : {2u, 10u, 11u, 12u, 13u}) {
    ExecRecord r;
    r.pid = r.tid = pid;
    r.ppid = pid == 2 ? 0 : pid == 10 ? 2 : pid - 1;
    r.ktime = pid * 1000;
    r.binary = absl::StrCat("/bin/p", pid);
    cache.AddExec(r);
  }
  EventBus bus;
  auto sub = bus.Subscribe(100);
  LoaderSensorOptions o;
  o.bus = &bus;
  o.processes = &cache;
  o.ancestors = true;
  o.hold = absl::ZeroDuration();
  auto s = LoaderSensor::CreateForTest(o);
  MmapRecord r = Record(13, "/lib/x.so", "id");
  r.ktime = 20000;
  s->Handle(r);
  EventBus::Event ev;
  ASSERT_TRUE(sub->Next(&ev, absl::Now() + absl::Seconds(1)));
  const tetragon::ProcessLoader& l = ev->process_loader();
  EXPECT_EQ(l.process().binary(), "/bin/p13");
  EXPECT_EQ(l.parent().binary(), "/bin/p12");
  ASSERT_EQ(l.ancestors_size(), 3);  // up to the first with pid <= 2, as Tetragon
  EXPECT_EQ(l.ancestors(0).binary(), "/bin/p11");
  EXPECT_EQ(l.ancestors(1).binary(), "/bin/p10");
  EXPECT_EQ(l.ancestors(2).binary(), "/bin/p2");
}

}  // namespace
}  // namespace tgd
