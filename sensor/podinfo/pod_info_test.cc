// FillPod's exact output and the enrich callback over an in-memory registry.
#include "sensor/podinfo/pod_info.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include "gtest/gtest.h"

namespace tgd {
namespace {

using google::protobuf::util::MessageDifferencer;

tetragon::Pod ParsePod(const std::string& text) {
  tetragon::Pod p;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &p)) << text;
  return p;
}

PodContainer WebPod() {
  return PodContainer{
      PodInfo{"8a1d6a0e-uid", "web-0", "shop", {{"app", "web"}, {"tier", "front"}}},
      ContainerInfo{"ctr-1", "nginx", "docker.io/library/nginx", 4242, "/x",
                    "docker.io/library/nginx:1.25"}};
}

TEST(PodInfoTest, FillsTheFieldsTetragonSets) {
  tetragon::Pod got;
  got.set_workload("stale");
  (*got.mutable_pod_annotations())["old"] = "x";
  FillPod(WebPod(), &got);
  tetragon::Pod want = ParsePod(R"pb(
    namespace: "shop"
    name: "web-0"
    uid: "8a1d6a0e-uid"
    container {
      id: "ctr-1"
      name: "nginx"
      image { name: "docker.io/library/nginx:1.25" }
      security_context {}
    }
    pod_labels { key: "app" value: "web" }
    pod_labels { key: "tier" value: "front" }
    workload: "web-0"
    workload_kind: "Pod"
  )pb");
  EXPECT_TRUE(MessageDifferencer::Equals(got, want)) << got.DebugString();
  EXPECT_TRUE(got.container().has_security_context());
  EXPECT_FALSE(got.container().has_start_time());
  EXPECT_FALSE(got.container().has_pid());
}

TEST(PodInfoTest, ImageNameFallsBackToTheRepository) {
  PodContainer pc = WebPod();
  pc.container.image.clear();
  tetragon::Pod got;
  FillPod(pc, &got);
  EXPECT_EQ(got.container().image().name(), "docker.io/library/nginx");
  EXPECT_EQ(got.container().image().id(), "");
}

TEST(PodInfoTest, WorkloadIsThePodItself) {
  WorkloadRef w = WorkloadOfPod(PodInfo{"u", "job-x-1234", "ns", {}});
  EXPECT_EQ(w.name, "job-x-1234");
  EXPECT_EQ(w.kind, "Pod");
}

TEST(PodInfoTest, EnricherSetsPodOnlyForPodCgroups) {
  EXPECT_FALSE(MakePodEnricher(nullptr));
  PolicyFilterOptions o;
  o.use_bpf = false;
  auto state = PolicyFilterState::Create(o);
  ASSERT_TRUE(state.ok()) << state.status();
  PodContainer web = WebPod();
  ASSERT_TRUE((*state)->AddPodContainer(web.pod, web.container).ok());
  ProcessEnricher enrich = MakePodEnricher(state->get());
  ASSERT_TRUE(enrich);

  tetragon::Process in_pod;
  in_pod.set_binary("/usr/sbin/nginx");
  enrich(4242, &in_pod);
  ASSERT_TRUE(in_pod.has_pod());
  EXPECT_EQ(in_pod.pod().namespace_(), "shop");
  EXPECT_EQ(in_pod.pod().name(), "web-0");
  EXPECT_EQ(in_pod.pod().container().name(), "nginx");
  EXPECT_EQ(in_pod.pod().pod_labels().at("app"), "web");
  EXPECT_EQ(in_pod.binary(), "/usr/sbin/nginx");
  EXPECT_EQ(in_pod.docker(), "ctr-1");  // short ids whole

  // A 64-character container id: Tetragon's docker field has its first 31.
  PodContainer long_id = WebPod();
  long_id.pod.uid = "uid-long";
  long_id.container.id = std::string(64, 'a');
  long_id.container.id.replace(0, 8, "0123abcd");
  long_id.container.cgroup_id = 4343;
  ASSERT_TRUE((*state)->AddPodContainer(long_id.pod, long_id.container).ok());
  tetragon::Process in_long;
  enrich(4343, &in_long);
  EXPECT_EQ(in_long.docker(), long_id.container.id.substr(0, 31));
  EXPECT_EQ(in_long.pod().container().id(), long_id.container.id);  // whole in the pod

  tetragon::Process host;
  host.set_binary("/bin/sh");
  tetragon::Process before = host;
  enrich(7, &host);
  enrich(0, &host);
  EXPECT_TRUE(MessageDifferencer::Equals(host, before)) << host.DebugString();
  enrich(4242, nullptr);  // tolerated

  // The pod leaves the registry: its cgroup no longer enriches.
  ASSERT_TRUE((*state)->DelPod(web.pod.uid).ok());
  tetragon::Process later;
  enrich(4242, &later);
  EXPECT_FALSE(later.has_pod());
}

}  // namespace
}  // namespace tgd
