// Wire-compatibility checks of api/*.proto against facts read from Tetragon's
// api/v1/tetragon protos (events.proto, sensors.proto at cilium/tetragon
// main, tetragon.proto at a fork tracking main, enum values from Tetragon's
// generated gRPC API reference). A renumbered or retyped field fails here.
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "api/events.pb.h"
#include "api/sensors.grpc.pb.h"
#include "api/tetragon.pb.h"
#include "api/upstream_facts.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

struct FieldFact {
  const char* message;  // without the "tetragon." prefix
  const char* field;
  int number;
  FieldDescriptor::Type type;
  bool repeated;
};

constexpr auto kMsg = FieldDescriptor::TYPE_MESSAGE;
constexpr auto kStr = FieldDescriptor::TYPE_STRING;
constexpr auto kU32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kU64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kI32 = FieldDescriptor::TYPE_INT32;
constexpr auto kI64 = FieldDescriptor::TYPE_INT64;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;

const FieldFact kFacts[] = {
    // GetEventsResponse and its oneof (numbers equal EventType values).
    {"GetEventsResponse", "process_exec", 1, kMsg, false},
    {"GetEventsResponse", "process_exit", 5, kMsg, false},
    {"GetEventsResponse", "process_kprobe", 9, kMsg, false},
    {"GetEventsResponse", "process_tracepoint", 10, kMsg, false},
    {"GetEventsResponse", "process_loader", 11, kMsg, false},
    {"GetEventsResponse", "process_uprobe", 12, kMsg, false},
    {"GetEventsResponse", "process_throttle", 27, kMsg, false},
    {"GetEventsResponse", "process_lsm", 28, kMsg, false},
    {"GetEventsResponse", "process_usdt", 29, kMsg, false},
    {"GetEventsResponse", "test", 40000, kMsg, false},
    {"GetEventsResponse", "rate_limit_info", 40001, kMsg, false},
    {"GetEventsResponse", "node_name", 1000, kStr, false},
    {"GetEventsResponse", "time", 1001, kMsg, false},
    {"GetEventsResponse", "aggregation_info", 1002, kMsg, false},
    {"GetEventsResponse", "cluster_name", 1003, kStr, false},
    // Requests and filters.
    {"GetEventsRequest", "allow_list", 1, kMsg, true},
    {"GetEventsRequest", "deny_list", 2, kMsg, true},
    {"GetEventsRequest", "aggregation_options", 3, kMsg, false},
    {"GetEventsRequest", "field_filters", 4, kMsg, true},
    {"Filter", "binary_regex", 1, kStr, true},
    {"Filter", "namespace", 2, kStr, true},
    {"Filter", "health_check", 3, kMsg, false},
    {"Filter", "pid", 4, kU32, true},
    {"Filter", "pid_set", 5, kU32, true},
    {"Filter", "event_set", 6, kEnum, true},
    {"Filter", "pod_regex", 7, kStr, true},
    {"Filter", "arguments_regex", 8, kStr, true},
    {"Filter", "labels", 9, kStr, true},
    {"Filter", "policy_names", 10, kStr, true},
    {"Filter", "capabilities", 11, kMsg, false},
    {"Filter", "parent_binary_regex", 12, kStr, true},
    {"Filter", "cel_expression", 13, kStr, true},
    {"Filter", "parent_arguments_regex", 14, kStr, true},
    {"Filter", "container_id", 15, kStr, true},
    {"Filter", "in_init_tree", 16, kMsg, false},
    {"Filter", "ancestor_binary_regex", 17, kStr, true},
    {"FieldFilter", "event_set", 1, kEnum, true},
    {"FieldFilter", "fields", 2, kMsg, false},
    {"FieldFilter", "action", 3, kEnum, false},
    {"FieldFilter", "invert_event_set", 4, kMsg, false},
    // Process and pods.
    {"Process", "exec_id", 1, kStr, false},
    {"Process", "pid", 2, kMsg, false},
    {"Process", "uid", 3, kMsg, false},
    {"Process", "cwd", 4, kStr, false},
    {"Process", "binary", 5, kStr, false},
    {"Process", "arguments", 6, kStr, false},
    {"Process", "flags", 7, kStr, false},
    {"Process", "start_time", 8, kMsg, false},
    {"Process", "auid", 9, kMsg, false},
    {"Process", "pod", 10, kMsg, false},
    {"Process", "docker", 11, kStr, false},
    {"Process", "parent_exec_id", 12, kStr, false},
    {"Process", "refcnt", 13, kU32, false},
    {"Process", "cap", 14, kMsg, false},
    {"Process", "ns", 15, kMsg, false},
    {"Process", "tid", 16, kMsg, false},
    {"Process", "process_credentials", 17, kMsg, false},
    {"Process", "binary_properties", 18, kMsg, false},
    {"Process", "user", 19, kMsg, false},
    {"Process", "in_init_tree", 20, kMsg, false},
    {"Pod", "namespace", 1, kStr, false},
    {"Pod", "name", 2, kStr, false},
    {"Pod", "uid", 3, kStr, false},
    {"Pod", "container", 4, kMsg, false},
    {"Pod", "pod_labels", 5, kMsg, true},
    {"Pod", "workload", 6, kStr, false},
    {"Pod", "workload_kind", 7, kStr, false},
    {"Container", "id", 1, kStr, false},
    {"Container", "name", 2, kStr, false},
    {"Container", "image", 3, kMsg, false},
    {"Container", "maybe_exec_probe", 13, kBool, false},
    // Events.
    {"ProcessExec", "process", 1, kMsg, false},
    {"ProcessExec", "parent", 2, kMsg, false},
    {"ProcessExec", "ancestors", 3, kMsg, true},
    {"ProcessExit", "signal", 3, kStr, false},
    {"ProcessExit", "status", 4, kU32, false},
    {"ProcessExit", "time", 5, kMsg, false},
    {"ProcessKprobe", "function_name", 3, kStr, false},
    {"ProcessKprobe", "args", 4, kMsg, true},
    {"ProcessKprobe", "return", 5, kMsg, false},
    {"ProcessKprobe", "action", 6, kEnum, false},
    {"ProcessKprobe", "policy_name", 8, kStr, false},
    {"ProcessKprobe", "return_action", 9, kEnum, false},
    {"ProcessKprobe", "message", 10, kStr, false},
    {"ProcessKprobe", "tags", 11, kStr, true},
    {"ProcessTracepoint", "process", 1, kMsg, false},
    {"ProcessTracepoint", "parent", 2, kMsg, false},
    {"ProcessTracepoint", "subsys", 4, kStr, false},
    {"ProcessTracepoint", "event", 5, kStr, false},
    {"ProcessTracepoint", "args", 6, kMsg, true},
    {"ProcessTracepoint", "policy_name", 7, kStr, false},
    {"ProcessTracepoint", "action", 8, kEnum, false},
    {"ProcessTracepoint", "message", 9, kStr, false},
    {"ProcessTracepoint", "tags", 10, kStr, true},
    {"ProcessLsm", "function_name", 3, kStr, false},
    {"ProcessLsm", "policy_name", 5, kStr, false},
    {"ProcessLsm", "message", 6, kStr, false},
    {"ProcessLsm", "args", 7, kMsg, true},
    {"ProcessLsm", "action", 8, kEnum, false},
    {"ProcessLsm", "ima_hash", 11, kStr, false},
    {"KprobeArgument", "string_arg", 1, kStr, false},
    {"KprobeArgument", "int_arg", 2, kI32, false},
    {"KprobeArgument", "size_arg", 4, kU64, false},
    {"KprobeArgument", "bytes_arg", 5, kBytes, false},
    {"KprobeArgument", "long_arg", 11, kI64, false},
    {"KprobeArgument", "uint_arg", 15, kU32, false},
    {"KprobeArgument", "label", 18, kStr, false},
    {"KprobeArgument", "process_credentials_arg", 19, kMsg, false},
    {"KprobeArgument", "bpf_cmd_arg", 28, kEnum, false},
    {"KprobeArgument", "sockaddr_arg", 30, kMsg, false},
    {"KprobeArgument", "bpf_prog_arg", 31, kMsg, false},
    {"KprobeArgument", "error_arg", 32, kMsg, false},
    {"KprobeArgument", "sockaddrun_arg", 33, kMsg, false},
    {"KprobeSockaddrUn", "path", 2, kStr, false},
    // Policy lifecycle.
    {"AddTracingPolicyRequest", "yaml", 1, kStr, false},
    {"DeleteTracingPolicyRequest", "name", 1, kStr, false},
    {"DeleteTracingPolicyRequest", "namespace", 2, kStr, false},
    {"ConfigureTracingPolicyRequest", "enable", 3, kBool, false},
    {"ConfigureTracingPolicyRequest", "mode", 4, kEnum, false},
    {"ListTracingPoliciesResponse", "policies", 1, kMsg, true},
    {"TracingPolicyStatus", "id", 1, kU64, false},
    {"TracingPolicyStatus", "name", 2, kStr, false},
    {"TracingPolicyStatus", "namespace", 3, kStr, false},
    {"TracingPolicyStatus", "info", 4, kStr, false},
    {"TracingPolicyStatus", "sensors", 5, kStr, true},
    {"TracingPolicyStatus", "enabled", 6, kBool, false},
    {"TracingPolicyStatus", "filter_id", 7, kU64, false},
    {"TracingPolicyStatus", "error", 8, kStr, false},
    {"TracingPolicyStatus", "state", 9, kEnum, false},
    {"TracingPolicyStatus", "kernel_memory_bytes", 10, kU64, false},
    {"TracingPolicyStatus", "mode", 11, kEnum, false},
    {"TracingPolicyStatus", "stats", 12, kMsg, false},
    {"TracingPolicyStats", "action_counters", 1, kMsg, false},
    {"TracingPolicyActionCounters", "post", 1, kU64, false},
    {"TracingPolicyActionCounters", "signal", 2, kU64, false},
    {"TracingPolicyActionCounters", "monitor_signal", 3, kU64, false},
    {"TracingPolicyActionCounters", "override", 4, kU64, false},
    {"TracingPolicyActionCounters", "monitor_override", 5, kU64, false},
    {"TracingPolicyActionCounters", "notify_enforcer", 6, kU64, false},
    {"TracingPolicyActionCounters", "monitor_notify_enforcer", 7, kU64, false},
    {"TracingPolicyActionCounters", "set", 8, kU64, false},
    {"TracingPolicyActionCounters", "monitor_set", 9, kU64, false},
    {"SensorStatus", "collection", 3, kStr, false},
    {"GetHealthStatusResponse", "health_status", 1, kMsg, true},
    {"GetVersionResponse", "version", 1, kStr, false},
    {"RuntimeHookRequest", "createContainer", 1, kMsg, false},
    {"CreateContainer", "cgroupsPath", 1, kStr, false},
    {"CreateContainer", "containerName", 4, kStr, false},
    {"CreateContainer", "containerID", 5, kStr, false},
    {"CreateContainer", "podName", 6, kStr, false},
    {"CreateContainer", "podUID", 7, kStr, false},
    {"CreateContainer", "podNamespace", 8, kStr, false},
};

TEST(WireCompatTest, FieldNumbersAndTypesMatchUpstream) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  for (const FieldFact& f : kFacts) {
    std::string full = std::string("tetragon.") + f.message;
    const Descriptor* d = pool->FindMessageTypeByName(full);
    ASSERT_NE(d, nullptr) << full;
    const FieldDescriptor* fd = d->FindFieldByName(f.field);
    ASSERT_NE(fd, nullptr) << full << "." << f.field;
    EXPECT_EQ(fd->number(), f.number) << full << "." << f.field;
    EXPECT_EQ(fd->type(), f.type) << full << "." << f.field;
    EXPECT_EQ(fd->is_repeated(), f.repeated) << full << "." << f.field;
  }
}

TEST(WireCompatTest, EventTypeValuesEqualOneofNumbers) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  const auto* event_type = pool->FindEnumTypeByName("tetragon.EventType");
  const auto* response = pool->FindMessageTypeByName("tetragon.GetEventsResponse");
  ASSERT_NE(event_type, nullptr);
  const auto* oneof = response->FindOneofByName("event");
  ASSERT_NE(oneof, nullptr);
  EXPECT_EQ(oneof->field_count(), 11);
  for (int i = 0; i < oneof->field_count(); ++i) {
    const FieldDescriptor* fd = oneof->field(i);
    std::string upper;
    for (char c : fd->name()) upper += static_cast<char>(std::toupper(c));
    const auto* value = event_type->FindValueByName(upper);
    ASSERT_NE(value, nullptr) << upper;
    EXPECT_EQ(value->number(), fd->number()) << upper;
  }
}

TEST(WireCompatTest, EnumValuesMatchUpstream) {
  EXPECT_EQ(tetragon::KPROBE_ACTION_SIGKILL, 3);
  EXPECT_EQ(tetragon::KPROBE_ACTION_OVERRIDE, 5);
  EXPECT_EQ(tetragon::KPROBE_ACTION_NOPOST, 9);
  EXPECT_EQ(tetragon::KPROBE_ACTION_SIGNAL, 10);
  EXPECT_EQ(tetragon::KPROBE_ACTION_SET, 15);
  EXPECT_EQ(tetragon::TP_STATE_LOAD_ERROR, 3);
  EXPECT_EQ(tetragon::TP_STATE_UNLOADING, 6);
  EXPECT_EQ(tetragon::TP_MODE_MONITOR, 2);
  EXPECT_EQ(tetragon::HEALTH_STATUS_RUNNING, 1);
  EXPECT_EQ(tetragon::CAP_SYS_ADMIN, 21);
  EXPECT_EQ(tetragon::CAP_CHECKPOINT_RESTORE, 40);
  EXPECT_EQ(tetragon::BPF_PROG_TYPE_LSM, 29);
  EXPECT_EQ(tetragon::BPF_LINK_CREATE, 28);
  EXPECT_EQ(tetragon::TAINT_TEST_MODULE, 262144);
}

TEST(WireCompatTest, ServiceMethodsMatchUpstream) {
  const auto* svc = DescriptorPool::generated_pool()->FindServiceByName(
      "tetragon.FineGuidanceSensors");
  ASSERT_NE(svc, nullptr);
  struct Rpc {
    const char* name;
    const char* in;
    const char* out;
    bool server_streaming;
  };
  const Rpc rpcs[] = {
      {"GetEvents", "GetEventsRequest", "GetEventsResponse", true},
      {"GetHealth", "GetHealthStatusRequest", "GetHealthStatusResponse", false},
      {"AddTracingPolicy", "AddTracingPolicyRequest", "AddTracingPolicyResponse", false},
      {"DeleteTracingPolicy", "DeleteTracingPolicyRequest", "DeleteTracingPolicyResponse", false},
      {"ListTracingPolicies", "ListTracingPoliciesRequest", "ListTracingPoliciesResponse", false},
      {"ConfigureTracingPolicy", "ConfigureTracingPolicyRequest", "ConfigureTracingPolicyResponse", false},
      {"EnableTracingPolicy", "EnableTracingPolicyRequest", "EnableTracingPolicyResponse", false},
      {"DisableTracingPolicy", "DisableTracingPolicyRequest", "DisableTracingPolicyResponse", false},
      {"ListSensors", "ListSensorsRequest", "ListSensorsResponse", false},
      {"EnableSensor", "EnableSensorRequest", "EnableSensorResponse", false},
      {"DisableSensor", "DisableSensorRequest", "DisableSensorResponse", false},
      {"RemoveSensor", "RemoveSensorRequest", "RemoveSensorResponse", false},
      {"GetVersion", "GetVersionRequest", "GetVersionResponse", false},
      {"GetInfo", "GetInfoRequest", "GetInfoResponse", false},
      {"RuntimeHook", "RuntimeHookRequest", "RuntimeHookResponse", false},
      {"GetDebug", "GetDebugRequest", "GetDebugResponse", false},
      {"SetDebug", "SetDebugRequest", "SetDebugResponse", false},
      {"ListDomains", "ListDomainsRequest", "ListDomainsResponse", false},
  };
  EXPECT_EQ(svc->method_count(), static_cast<int>(std::size(rpcs)));
  for (const Rpc& r : rpcs) {
    const auto* m = svc->FindMethodByName(r.name);
    ASSERT_NE(m, nullptr) << r.name;
    EXPECT_EQ(m->input_type()->full_name(), std::string("tetragon.") + r.in) << r.name;
    EXPECT_EQ(m->output_type()->full_name(), std::string("tetragon.") + r.out) << r.name;
    EXPECT_EQ(m->server_streaming(), r.server_streaming) << r.name;
    EXPECT_FALSE(m->client_streaming()) << r.name;
  }
}

// The whole API against the upstream facts table (api/upstream_facts.h):
// every message, field, enum value and rpc declared here exists upstream
// with the same number, type, label and type name. Anything upstream does
// not have (an unmerged field) fails.
void CollectDeclared(const google::protobuf::FileDescriptor* file, std::vector<const Descriptor*>* msgs,
                     std::vector<const google::protobuf::EnumDescriptor*>* enums) {
  std::vector<const Descriptor*> stack;
  for (int i = 0; i < file->message_type_count(); ++i) stack.push_back(file->message_type(i));
  for (int i = 0; i < file->enum_type_count(); ++i) enums->push_back(file->enum_type(i));
  while (!stack.empty()) {
    const Descriptor* d = stack.back();
    stack.pop_back();
    msgs->push_back(d);
    for (int i = 0; i < d->nested_type_count(); ++i) stack.push_back(d->nested_type(i));
    for (int i = 0; i < d->enum_type_count(); ++i) enums->push_back(d->enum_type(i));
  }
}

std::vector<const google::protobuf::FileDescriptor*> ApiFiles() {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  std::vector<const google::protobuf::FileDescriptor*> files;
  for (const char* name : {"api/tetragon.proto", "api/events.proto", "api/sensors.proto", "api/bpf.proto",
                           "api/capabilities.proto"}) {
    files.push_back(pool->FindFileByName(name));
  }
  return files;
}

std::string TypeName(const FieldDescriptor* fd) {
  if (fd->message_type() != nullptr) return "." + fd->message_type()->full_name();
  if (fd->enum_type() != nullptr) return "." + fd->enum_type()->full_name();
  return "";
}

TEST(UpstreamFactsTest, EveryDeclaredFieldExistsUpstreamAsDeclared) {
  std::map<std::pair<std::string, std::string>, const tgd::upstream::Field*> up;
  std::set<std::string> up_messages;
  for (const auto& f : tgd::upstream::kFields) {
    up[{f.message, f.field}] = &f;
    up_messages.insert(f.message);
  }
  std::vector<const Descriptor*> msgs;
  std::vector<const google::protobuf::EnumDescriptor*> enums;
  for (const auto* file : ApiFiles()) {
    ASSERT_NE(file, nullptr);
    CollectDeclared(file, &msgs, &enums);
  }
  ASSERT_GT(msgs.size(), 100u);
  int fields = 0;
  for (const Descriptor* d : msgs) {
    const std::string name = d->full_name().substr(strlen("tetragon."));
    // Messages with no fields upstream (requests, responses) are in the
    // table only through their rpc.
    if (d->field_count() > 0) {
      EXPECT_TRUE(up_messages.count(name)) << "message not upstream: " << name;
    }
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* fd = d->field(i);
      ++fields;
      auto it = up.find({name, fd->name()});
      if (it == up.end()) {
        ADD_FAILURE() << "field not upstream: " << name << "." << fd->name() << " = " << fd->number();
        continue;
      }
      EXPECT_EQ(fd->number(), it->second->number) << name << "." << fd->name();
      EXPECT_EQ(fd->type(), it->second->type) << name << "." << fd->name();
      EXPECT_EQ(fd->is_repeated(), it->second->repeated) << name << "." << fd->name();
      EXPECT_EQ(TypeName(fd), it->second->type_name) << name << "." << fd->name();
    }
  }
  EXPECT_GT(fields, 400);
}

TEST(UpstreamFactsTest, EveryDeclaredEnumValueExistsUpstream) {
  std::map<std::pair<std::string, std::string>, int> up;
  for (const auto& v : tgd::upstream::kEnumValues) up[{v.enum_name, v.value}] = v.number;
  std::vector<const Descriptor*> msgs;
  std::vector<const google::protobuf::EnumDescriptor*> enums;
  for (const auto* file : ApiFiles()) CollectDeclared(file, &msgs, &enums);
  for (const auto* e : enums) {
    const std::string name = e->full_name().substr(strlen("tetragon."));
    for (int i = 0; i < e->value_count(); ++i) {
      auto it = up.find({name, e->value(i)->name()});
      if (it == up.end()) {
        ADD_FAILURE() << "enum value not upstream: " << name << "." << e->value(i)->name();
        continue;
      }
      EXPECT_EQ(e->value(i)->number(), it->second) << name << "." << e->value(i)->name();
    }
  }
}

TEST(UpstreamFactsTest, RpcsMatchUpstreamAndOnlyKnownOnesAreLeftOut) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  // Upstream rpcs this server does not declare, and why.
  const std::set<std::pair<std::string, std::string>> not_served = {
      // A second service: runtime changes to the event log's parameters.
      {"EventLogService", "SetEventLogParams"},
      {"EventLogService", "GetEventLogParams"},
  };
  int declared = 0;
  for (const auto& r : tgd::upstream::kRpcs) {
    const auto* svc = pool->FindServiceByName(std::string("tetragon.") + r.service);
    const auto* m = svc ? svc->FindMethodByName(r.method) : nullptr;
    if (m == nullptr) {
      EXPECT_TRUE(not_served.count({r.service, r.method})) << "upstream rpc not declared: " << r.service << "."
                                                           << r.method;
      continue;
    }
    ++declared;
    EXPECT_EQ("." + m->input_type()->full_name(), r.input) << r.method;
    EXPECT_EQ("." + m->output_type()->full_name(), r.output) << r.method;
    EXPECT_EQ(m->server_streaming(), r.server_streaming) << r.method;
  }
  const auto* fgs = pool->FindServiceByName("tetragon.FineGuidanceSensors");
  ASSERT_NE(fgs, nullptr);
  EXPECT_EQ(fgs->method_count(), declared) << "an rpc upstream does not have";
}

// Hand-encoded bytes: a renumbering changes the tag bytes.
TEST(WireCompatTest, SerializedBytesUseUpstreamTags) {
  tetragon::GetEventsResponse ev;
  ev.mutable_process_tracepoint()->set_policy_name("p");
  ev.set_node_name("n");
  std::string bytes;
  ASSERT_TRUE(ev.SerializeToString(&bytes));
  // field 10 (process_tracepoint), wire type 2: tag 0x52, len 3,
  //   field 7 (policy_name) wire type 2: tag 0x3a, len 1, 'p'
  // field 1000 (node_name), wire type 2: tag varint 0xc2 0x3e, len 1, 'n'
  const std::string want("\x52\x03\x3a\x01p\xc2\x3e\x01n", 9);
  EXPECT_EQ(bytes, want);

  tetragon::TracingPolicyStatus st;
  st.set_kernel_memory_bytes(5);
  ASSERT_TRUE(st.SerializeToString(&bytes));
  EXPECT_EQ(bytes, std::string("\x50\x05", 2));  // field 10, varint
}

}  // namespace
