// Tests of GetEvents allow/deny filters and field filters.
#include "sensor/eventfilter/event_filter.h"

#include "gtest/gtest.h"
#include "google/protobuf/text_format.h"
#include "sensor/eventfilter/event_access.h"
#include "sensor/eventfilter/field_filter.h"

namespace tgd {
namespace {

tetragon::GetEventsResponse Parse(const std::string& text) {
  tetragon::GetEventsResponse ev;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &ev)) << text;
  return ev;
}

tetragon::GetEventsRequest Req(const std::string& text) {
  tetragon::GetEventsRequest r;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &r)) << text;
  return r;
}

const char* kExecInPod = R"pb(
  process_exec {
    process {
      pid { value: 42 } binary: "/usr/bin/curl" arguments: "-s http://x"
      docker: "abc123"
      pod {
        namespace: "default" name: "web-1" pod_labels { key: "app" value: "web" }
        container { name: "curl-sidecar" id: "abc123def" }
      }
      cap { effective: CAP_NET_RAW effective: CAP_CHOWN }
      in_init_tree { value: true }
    }
    parent { pid { value: 7 } binary: "/bin/sh" arguments: "-c curl" }
    ancestors { pid { value: 1 } binary: "/sbin/init" }
  }
  node_name: "n1")pb";

const char* kHostTracepoint = R"pb(
  process_tracepoint {
    process { pid { value: 99 } binary: "/usr/bin/cat" }
    policy_name: "file-watch"
    subsys: "syscalls"
  })pb";

bool Allows(const std::string& req_text, const tetragon::GetEventsResponse& ev) {
  tetragon::GetEventsRequest r = Req(req_text);
  auto f = EventFilter::Create(r.allow_list(), r.deny_list());
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() && f->Allows(ev);
}

TEST(EventFilterTest, AllowListFields) {
  auto exec = Parse(kExecInPod);
  auto tp = Parse(kHostTracepoint);
  EXPECT_TRUE(Allows("", exec));
  EXPECT_TRUE(Allows("allow_list { binary_regex: 'curl$' }", exec));
  EXPECT_FALSE(Allows("allow_list { binary_regex: '^/bin' }", exec));
  EXPECT_TRUE(Allows("allow_list { event_set: PROCESS_EXEC }", exec));
  EXPECT_FALSE(Allows("allow_list { event_set: PROCESS_EXEC }", tp));
  EXPECT_TRUE(Allows("allow_list { namespace: 'default' }", exec));
  EXPECT_FALSE(Allows("allow_list { namespace: 'default' }", tp));
  EXPECT_TRUE(Allows("allow_list { namespace: '' }", tp));  // host processes
  EXPECT_TRUE(Allows("allow_list { pid: 42 }", exec));
  EXPECT_FALSE(Allows("allow_list { pid: 7 }", exec));
  EXPECT_TRUE(Allows("allow_list { pid_set: 7 }", exec));  // parent in set
  EXPECT_TRUE(Allows("allow_list { pod_regex: '^web-' }", exec));
  EXPECT_FALSE(Allows("allow_list { pod_regex: '.' }", tp));
  EXPECT_TRUE(Allows("allow_list { arguments_regex: 'http' }", exec));
  EXPECT_TRUE(Allows("allow_list { labels: 'app=web' }", exec));
  EXPECT_FALSE(Allows("allow_list { labels: 'app!=web' }", exec));
  EXPECT_FALSE(Allows("allow_list { labels: '' }", tp));  // needs a pod
  EXPECT_TRUE(Allows("allow_list { policy_names: 'file-watch' }", tp));
  EXPECT_FALSE(Allows("allow_list { policy_names: 'file-watch' }", exec));
  EXPECT_TRUE(Allows("allow_list { parent_binary_regex: 'sh$' }", exec));
  EXPECT_TRUE(Allows("allow_list { parent_arguments_regex: 'curl' }", exec));
  EXPECT_TRUE(Allows("allow_list { container_id: '^abc' }", exec));
  // Tetragon's newer filters: container name and namespace by RE2; a process
  // outside a pod never matches them.
  EXPECT_TRUE(Allows("allow_list { container_name_regex: '^curl-' }", exec));
  EXPECT_FALSE(Allows("allow_list { container_name_regex: '^main$' }", exec));
  EXPECT_FALSE(Allows("allow_list { container_name_regex: '.*' }", tp));
  EXPECT_TRUE(Allows("allow_list { container_name_regex: ['nope', 'sidecar$'] }", exec));
  EXPECT_TRUE(Allows("allow_list { namespace_regex: '^def' }", exec));
  EXPECT_FALSE(Allows("allow_list { namespace_regex: '^kube-' }", exec));
  EXPECT_FALSE(Allows("allow_list { namespace_regex: '.*' }", tp));
  EXPECT_FALSE(Allows("deny_list { namespace_regex: 'default' }", exec));
  EXPECT_TRUE(Allows("allow_list { ancestor_binary_regex: 'init' }", exec));
  EXPECT_TRUE(Allows("allow_list { in_init_tree { value: true } }", exec));
  EXPECT_FALSE(Allows("allow_list { in_init_tree { value: true } }", tp));
  EXPECT_TRUE(Allows("allow_list { health_check { value: false } }", exec));
  EXPECT_FALSE(Allows("allow_list { health_check { value: true } }", exec));
  EXPECT_TRUE(Allows("allow_list { capabilities { effective { any: CAP_NET_RAW } } }", exec));
  EXPECT_FALSE(Allows("allow_list { capabilities { effective { all: [CAP_NET_RAW, CAP_SYS_ADMIN] } } }", exec));
  EXPECT_TRUE(Allows("allow_list { capabilities { effective { exactly: [CAP_CHOWN, CAP_NET_RAW] } } }", exec));
  EXPECT_TRUE(Allows("allow_list { capabilities { effective { none: CAP_SYS_ADMIN } } }", exec));
}

TEST(EventFilterTest, FieldsInOneFilterAreAndedFiltersAreOred) {
  auto exec = Parse(kExecInPod);
  EXPECT_FALSE(Allows("allow_list { binary_regex: 'curl' pid: 1 }", exec));
  EXPECT_TRUE(Allows("allow_list { binary_regex: 'nope' } allow_list { pid: 42 }", exec));
  EXPECT_TRUE(Allows("allow_list { binary_regex: ['nope', 'curl'] }", exec));
}

TEST(EventFilterTest, DenyWinsOverAllow) {
  auto exec = Parse(kExecInPod);
  EXPECT_FALSE(Allows("allow_list { pid: 42 } deny_list { namespace: 'default' }", exec));
  EXPECT_TRUE(Allows("deny_list { namespace: 'kube-system' }", exec));
}

TEST(EventFilterTest, BadFiltersNameTheField) {
  struct Bad { const char* req; const char* want; };
  const Bad cases[] = {
      {"allow_list { binary_regex: '(' }", "allow_list[0].binary_regex[0]"},
      {"deny_list {} deny_list { cel_expression: 'true' }", "deny_list[1].cel_expression"},
      {"allow_list { labels: 'a in (b' }", "allow_list[0].labels[0]"},
      {"allow_list { event_set: UNDEF }", "allow_list[0].event_set[0]"},
      {"allow_list { container_name_regex: ['ok', '['] }", "allow_list[0].container_name_regex[1]"},
      {"deny_list { namespace_regex: '(' }", "deny_list[0].namespace_regex[0]"},
      {"allow_list { capabilities { permitted { any: CAP_BPF all: CAP_BPF } } }",
       "allow_list[0].capabilities.permitted"},
  };
  for (const Bad& b : cases) {
    tetragon::GetEventsRequest r = Req(b.req);
    auto f = EventFilter::Create(r.allow_list(), r.deny_list());
    ASSERT_FALSE(f.ok()) << b.req;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(f.status().message().find(b.want), std::string::npos) << f.status();
  }
}

TEST(EventFilterTest, UnknownFilterFieldsAreRefusedNotIgnored) {
  tetragon::Filter f;
  f.GetReflection()->MutableUnknownFields(&f)->AddVarint(99, 1);
  google::protobuf::RepeatedPtrField<tetragon::Filter> allow;
  *allow.Add() = f;
  auto ef = EventFilter::Create(allow, {});
  EXPECT_EQ(ef.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FieldFilterTest, IncludeThenExclude) {
  tetragon::GetEventsRequest r = Req(R"pb(
    field_filters { event_set: PROCESS_EXEC fields { paths: "process.binary" paths: "process.pid" paths: "parent" } action: INCLUDE }
    field_filters { fields { paths: "parent.arguments" } action: EXCLUDE })pb");
  auto ff = FieldFilters::Create(r.field_filters());
  ASSERT_TRUE(ff.ok()) << ff.status();
  auto exec = Parse(kExecInPod);
  ff->Apply(&exec);
  const auto& p = exec.process_exec().process();
  EXPECT_EQ(p.binary(), "/usr/bin/curl");
  EXPECT_EQ(p.pid().value(), 42u);
  EXPECT_TRUE(p.arguments().empty());
  EXPECT_FALSE(p.has_pod());
  EXPECT_EQ(exec.process_exec().parent().binary(), "/bin/sh");
  EXPECT_TRUE(exec.process_exec().parent().arguments().empty());
  EXPECT_EQ(exec.process_exec().ancestors_size(), 0);
  EXPECT_EQ(exec.node_name(), "n1");  // outer fields untouched

  auto tp = Parse(kHostTracepoint);  // include filter is PROCESS_EXEC only
  ff->Apply(&tp);
  EXPECT_EQ(tp.process_tracepoint().policy_name(), "file-watch");
}

TEST(FieldFilterTest, InvertedEventSetAndBadPaths) {
  tetragon::GetEventsRequest r = Req(R"pb(
    field_filters { event_set: PROCESS_EXEC invert_event_set { value: true }
                    fields { paths: "policy_name" } action: EXCLUDE })pb");
  auto ff = FieldFilters::Create(r.field_filters());
  ASSERT_TRUE(ff.ok()) << ff.status();
  auto tp = Parse(kHostTracepoint);
  ff->Apply(&tp);
  EXPECT_TRUE(tp.process_tracepoint().policy_name().empty());

  tetragon::GetEventsRequest bad = Req(R"pb(field_filters { fields { paths: "process.nope" } })pb");
  auto err = FieldFilters::Create(bad.field_filters());
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.status().message().find("field_filters[0].fields.paths[0]"), std::string::npos);
}

TEST(EventAccessTest, GenericAccessors) {
  auto exec = Parse(kExecInPod);
  EXPECT_EQ(EventTypeOf(exec), tetragon::PROCESS_EXEC);
  EXPECT_EQ(EventProcess(exec)->pid().value(), 42u);
  EXPECT_EQ(EventParent(exec)->binary(), "/bin/sh");
  EXPECT_EQ(EventAncestors(exec).size(), 1);
  auto tp = Parse(kHostTracepoint);
  EXPECT_EQ(EventPolicyName(tp), "file-watch");
  EXPECT_EQ(EventParent(tp), nullptr);
  tetragon::GetEventsResponse none;
  EXPECT_EQ(EventTypeOf(none), tetragon::UNDEF);
  EXPECT_EQ(EventProcess(none), nullptr);
}

}  // namespace
}  // namespace tgd
