// gRPC tests of FgsService through the generated C++ client over an
// in-process channel: every RPC, its error paths, and GetEvents with two
// concurrent subscribers and their own filters.
#include "sensor/server/fgs_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <thread>

#include "api/sensors.grpc.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "sensor/base/version.h"
#include "sensor/policymgr/recording_backend.h"

namespace tgd {
namespace {

using testing::BackendLog;
using testing::RecordingBackend;
using testing::TestPolicyYaml;

class FgsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FgsServiceOptions opts;
    opts.policies = &mgr_;
    opts.bus = &bus_;
    opts.runtime_hook = [this](const tetragon::RuntimeHookRequest& r) {
      hooks_.push_back(r.createcontainer().containerid());
      if (r.createcontainer().cgroupspath().empty()) {
        return absl::InvalidArgumentError("createContainer.cgroupsPath: required");
      }
      return absl::OkStatus();
    };
    opts.info = {{"loader", "dispatch"}};
    opts.daemon_sensors = [this] {
      tetragon::SensorStatus base;
      base.set_name("__base__");
      base.set_enabled(base_enabled_);
      base.set_collection("__base__");
      return std::vector<tetragon::SensorStatus>{base};
    };
    service_ = std::make_unique<FgsService>(std::move(opts));
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = tetragon::FineGuidanceSensors::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    bus_.Close();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  grpc::Status Add(const std::string& yaml) {
    grpc::ClientContext ctx;
    tetragon::AddTracingPolicyRequest req;
    tetragon::AddTracingPolicyResponse resp;
    req.set_yaml(yaml);
    return stub_->AddTracingPolicy(&ctx, req, &resp);
  }
  tetragon::ListTracingPoliciesResponse List() {
    grpc::ClientContext ctx;
    tetragon::ListTracingPoliciesResponse resp;
    EXPECT_TRUE(stub_->ListTracingPolicies(&ctx, {}, &resp).ok());
    return resp;
  }

  BackendLog log_;
  RecordingBackend backend_{&log_};
  PolicyManager mgr_{&backend_};
  EventBus bus_;
  std::vector<std::string> hooks_;
  bool base_enabled_ = true;
  std::unique_ptr<FgsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<tetragon::FineGuidanceSensors::Stub> stub_;
};

TEST_F(FgsServiceTest, VersionHealthInfo) {
  {
    grpc::ClientContext ctx;
    tetragon::GetVersionResponse resp;
    ASSERT_TRUE(stub_->GetVersion(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.version(), kVersion);
  }
  {
    grpc::ClientContext ctx;
    tetragon::GetHealthStatusResponse resp;
    ASSERT_TRUE(stub_->GetHealth(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.health_status_size(), 1);
    EXPECT_EQ(resp.health_status(0).event(), tetragon::HEALTH_STATUS_TYPE_STATUS);
    EXPECT_EQ(resp.health_status(0).status(), tetragon::HEALTH_STATUS_RUNNING);
    EXPECT_EQ(resp.health_status(0).details(), "running; 0 tracing policies loaded (loader dispatch)");
  }
  {
    grpc::ClientContext ctx;
    tetragon::GetInfoResponse resp;
    ASSERT_TRUE(stub_->GetInfo(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.name(), "tgdispatch");
    ASSERT_EQ(resp.conf_size(), 1);
    EXPECT_EQ(resp.conf(0).key(), "loader");
  }
}

// The daemon falls back to a loader that refuses everything when its
// datapath does not start: GetHealth says ERROR and names what is missing.
TEST(FgsServiceHealthTest, UnavailableDatapathIsAnErrorNamingWhatIsMissing) {
  auto backend =
      MakeUnavailableBackend("dispatch", "policy filter maps: bpf_map_create: Operation not permitted");
  PolicyManager mgr(backend.get());
  EventBus bus;
  FgsServiceOptions opts;
  opts.policies = &mgr;
  opts.bus = &bus;
  FgsService service(std::move(opts));
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = tetragon::FineGuidanceSensors::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  grpc::ClientContext ctx;
  tetragon::GetHealthStatusResponse resp;
  ASSERT_TRUE(stub->GetHealth(&ctx, {}, &resp).ok());
  ASSERT_EQ(resp.health_status_size(), 1);
  EXPECT_EQ(resp.health_status(0).event(), tetragon::HEALTH_STATUS_TYPE_STATUS);
  EXPECT_EQ(resp.health_status(0).status(), tetragon::HEALTH_STATUS_ERROR);
  EXPECT_EQ(resp.health_status(0).details(),
            "error: datapath unavailable, tracing policies cannot be loaded: loader \"dispatch\" is not "
            "available: policy filter maps: bpf_map_create: Operation not permitted");
  bus.Close();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

// Hook kinds the kernel refused in the feature probe are listed with the
// kernel's reason after the running state.
TEST(FgsServiceHealthTest, ListsTheHookKindsThisKernelCannotRun) {
  BackendLog log;
  RecordingBackend backend(&log);
  PolicyManager mgr(&backend);
  EventBus bus;
  FgsServiceOptions opts;
  opts.policies = &mgr;
  opts.bus = &bus;
  opts.unavailable_hooks = {"kprobe: attaching a kprobe program to security_task_prctl: ENOENT",
                            "lsm: loading an lsm program: EPERM (Operation not permitted)"};
  FgsService service(std::move(opts));
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = tetragon::FineGuidanceSensors::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  grpc::ClientContext ctx;
  tetragon::GetHealthStatusResponse resp;
  ASSERT_TRUE(stub->GetHealth(&ctx, {}, &resp).ok());
  ASSERT_EQ(resp.health_status_size(), 1);
  EXPECT_EQ(resp.health_status(0).status(), tetragon::HEALTH_STATUS_RUNNING);
  EXPECT_EQ(resp.health_status(0).details(),
            "running; 0 tracing policies loaded (loader dispatch); hook kinds this kernel cannot run: kprobe: "
            "attaching a kprobe program to security_task_prctl: ENOENT; lsm: loading an lsm program: EPERM "
            "(Operation not permitted)");
  bus.Close();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

// While the daemon still loads --policy-dir, GetHealth answers RUNNING (as
// Tetragon does once it serves) and its details say how far loading got.
TEST(FgsServiceHealthTest, StartupProgressIsInTheDetails) {
  testing::BackendLog log;
  testing::RecordingBackend backend(&log);
  PolicyManager mgr(&backend);
  EventBus bus;
  std::string progress = "loading --policy-dir: 3 of 300 files";
  FgsServiceOptions opts;
  opts.policies = &mgr;
  opts.bus = &bus;
  opts.startup_progress = [&progress] { return progress; };
  FgsService service(std::move(opts));
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = tetragon::FineGuidanceSensors::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  auto health = [&] {
    grpc::ClientContext ctx;
    tetragon::GetHealthStatusResponse resp;
    EXPECT_TRUE(stub->GetHealth(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.health_status(0).status(), tetragon::HEALTH_STATUS_RUNNING);
    return resp.health_status(0).details();
  };
  EXPECT_EQ(health(), "running; loading --policy-dir: 3 of 300 files; 0 tracing policies loaded (loader dispatch)");
  progress.clear();
  EXPECT_EQ(health(), "running; 0 tracing policies loaded (loader dispatch)");
  bus.Close();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

TEST_F(FgsServiceTest, PolicyLifecycle) {
  ASSERT_TRUE(Add(TestPolicyYaml("p1")).ok());
  ASSERT_TRUE(Add(TestPolicyYaml("p2", "  podSelector: {matchLabels: {app: a}}\n")).ok());
  auto list = List();
  ASSERT_EQ(list.policies_size(), 2);
  EXPECT_EQ(list.policies(0).state(), tetragon::TP_STATE_ENABLED);

  grpc::Status dup = Add(TestPolicyYaml("p1"));
  EXPECT_EQ(dup.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  grpc::Status bad = Add("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {}\nspec: {}\n");
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("metadata.name: required"), std::string::npos);
  EXPECT_EQ(List().policies_size(), 2);  // unparsable adds leave no trace
  // A policy that parses but fails to load: the error is returned and the
  // failed add leaves no trace.
  grpc::Status unloadable = Add(TestPolicyYaml("unloadable"));
  EXPECT_EQ(unloadable.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(unloadable.error_message(), "tracing policy \"unloadable\": kernel lacks kprobe attach");
  EXPECT_EQ(List().policies_size(), 2);

  {
    grpc::ClientContext ctx;
    tetragon::ConfigureTracingPolicyRequest req;
    tetragon::ConfigureTracingPolicyResponse resp;
    req.set_name("p1");
    req.set_enable(false);
    req.set_mode(tetragon::TP_MODE_MONITOR);
    ASSERT_TRUE(stub_->ConfigureTracingPolicy(&ctx, req, &resp).ok());
  }
  const auto configured = List();
  for (const auto& p : configured.policies()) {
    if (p.name() != "p1") continue;
    EXPECT_EQ(p.state(), tetragon::TP_STATE_DISABLED);
    EXPECT_EQ(p.mode(), tetragon::TP_MODE_MONITOR);
  }
  {
    grpc::ClientContext ctx;
    tetragon::EnableTracingPolicyRequest req;
    tetragon::EnableTracingPolicyResponse resp;
    req.set_name("p1");
    ASSERT_TRUE(stub_->EnableTracingPolicy(&ctx, req, &resp).ok());
    EXPECT_EQ(log_.events.back(), "enable p1 1");
  }
  {
    grpc::ClientContext ctx;
    tetragon::DisableTracingPolicyRequest req;
    tetragon::DisableTracingPolicyResponse resp;
    req.set_name("nope");
    EXPECT_EQ(stub_->DisableTracingPolicy(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    tetragon::ListSensorsResponse resp;
    ASSERT_TRUE(stub_->ListSensors(&ctx, {}, &resp).ok());
    // The base sensor first, then one per policy (p1 is enabled again, p2 too).
    ASSERT_EQ(resp.sensors_size(), 3);
    EXPECT_EQ(resp.sensors(0).name(), "__base__");
    EXPECT_TRUE(resp.sensors(0).enabled());
    EXPECT_EQ(resp.sensors(0).collection(), "__base__");
    EXPECT_EQ(resp.sensors(1).name(), "dispatch:p1");
    EXPECT_TRUE(resp.sensors(1).enabled());
    EXPECT_EQ(resp.sensors(1).collection(), "p1");
    EXPECT_EQ(resp.sensors(2).name(), "dispatch:p2");
  }
  {
    // Its state is read at each call.
    base_enabled_ = false;
    grpc::ClientContext ctx;
    tetragon::ListSensorsResponse resp;
    ASSERT_TRUE(stub_->ListSensors(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.sensors_size(), 3);
    EXPECT_FALSE(resp.sensors(0).enabled());
  }
  {
    grpc::ClientContext ctx;
    tetragon::DeleteTracingPolicyRequest req;
    tetragon::DeleteTracingPolicyResponse resp;
    req.set_name("p1");
    ASSERT_TRUE(stub_->DeleteTracingPolicy(&ctx, req, &resp).ok());
    EXPECT_EQ(log_.events.back(), "unload p1");
  }
  {
    grpc::ClientContext ctx;
    tetragon::DeleteTracingPolicyRequest req;
    tetragon::DeleteTracingPolicyResponse resp;
    req.set_name("p1");
    EXPECT_EQ(stub_->DeleteTracingPolicy(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
    grpc::ClientContext ctx2;
    req.set_name("");
    EXPECT_EQ(stub_->DeleteTracingPolicy(&ctx2, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(List().policies_size(), 1);
}

// Policy domains (Tetragon's ListDomains and `domain` request fields): every
// policy here is in the default domain "".
TEST_F(FgsServiceTest, OnlyTheDefaultPolicyDomain) {
  auto domains = [this] {
    grpc::ClientContext ctx;
    tetragon::ListDomainsResponse resp;
    EXPECT_TRUE(stub_->ListDomains(&ctx, {}, &resp).ok());
    return std::vector<std::string>(resp.domains().begin(), resp.domains().end());
  };
  EXPECT_TRUE(domains().empty());  // no policies: no domain
  ASSERT_TRUE(Add(TestPolicyYaml("p1")).ok());
  EXPECT_EQ(domains(), std::vector<std::string>{""});
  {
    grpc::ClientContext ctx;
    tetragon::AddTracingPolicyRequest req;
    tetragon::AddTracingPolicyResponse resp;
    req.set_yaml(TestPolicyYaml("p2"));
    req.set_domain("tenant-a");
    grpc::Status st = stub_->AddTracingPolicy(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_EQ(st.error_message().rfind("domain: \"tenant-a\"", 0), 0u) << st.error_message();
  }
  {
    grpc::ClientContext ctx;
    tetragon::ListTracingPoliciesRequest req;
    tetragon::ListTracingPoliciesResponse resp;
    req.set_domain("tenant-a");
    ASSERT_TRUE(stub_->ListTracingPolicies(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.policies_size(), 0);
  }
  {
    grpc::ClientContext ctx;
    tetragon::DeleteTracingPolicyRequest req;
    tetragon::DeleteTracingPolicyResponse resp;
    req.set_name("p1");
    req.set_domain("tenant-a");
    EXPECT_EQ(stub_->DeleteTracingPolicy(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  ASSERT_EQ(List().policies_size(), 1);  // p1 untouched, p2 never added
  EXPECT_EQ(List().policies(0).domain(), "");
}

TEST_F(FgsServiceTest, UnimplementedMethodsSaySo) {
  grpc::ClientContext c1, c2, c3, c4;
  tetragon::EnableSensorResponse r1;
  grpc::Status s1 = stub_->EnableSensor(&c1, {}, &r1);
  EXPECT_EQ(s1.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(s1.error_message().find("ConfigureTracingPolicy"), std::string::npos);
  tetragon::RemoveSensorResponse r2;
  EXPECT_EQ(stub_->RemoveSensor(&c2, {}, &r2).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  tetragon::GetDebugRequest dreq;
  dreq.set_flag(tetragon::CONFIG_FLAG_DUMP_PROCESS_CACHE);
  tetragon::GetDebugResponse dresp;
  EXPECT_EQ(stub_->GetDebug(&c3, dreq, &dresp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  tetragon::DisableSensorResponse r4;
  EXPECT_EQ(stub_->DisableSensor(&c4, {}, &r4).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(FgsServiceTest, LogLevelRoundTrip) {
  tetragon::SetDebugRequest req;
  req.set_flag(tetragon::CONFIG_FLAG_LOG_LEVEL);
  req.set_level(tetragon::LOG_LEVEL_DEBUG);
  tetragon::SetDebugResponse resp;
  grpc::ClientContext c1;
  ASSERT_TRUE(stub_->SetDebug(&c1, req, &resp).ok());
  tetragon::GetDebugRequest greq;
  greq.set_flag(tetragon::CONFIG_FLAG_LOG_LEVEL);
  tetragon::GetDebugResponse gresp;
  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->GetDebug(&c2, greq, &gresp).ok());
  EXPECT_EQ(gresp.level(), tetragon::LOG_LEVEL_DEBUG);
  req.set_level(tetragon::LOG_LEVEL_INFO);
  grpc::ClientContext c3;
  ASSERT_TRUE(stub_->SetDebug(&c3, req, &resp).ok());
  EXPECT_EQ(resp.level(), tetragon::LOG_LEVEL_INFO);
  tetragon::SetDebugRequest bad;
  bad.set_flag(tetragon::CONFIG_FLAG_DUMP_PROCESS_CACHE);
  grpc::ClientContext c4;
  EXPECT_EQ(stub_->SetDebug(&c4, bad, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(FgsServiceTest, RuntimeHookGoesToTheHandler) {
  tetragon::RuntimeHookRequest req;
  req.mutable_createcontainer()->set_containerid("c1");
  req.mutable_createcontainer()->set_cgroupspath("/kubepods/pod1/c1");
  tetragon::RuntimeHookResponse resp;
  grpc::ClientContext c1;
  ASSERT_TRUE(stub_->RuntimeHook(&c1, req, &resp).ok());
  EXPECT_EQ(hooks_, std::vector<std::string>{"c1"});
  req.mutable_createcontainer()->clear_cgroupspath();
  grpc::ClientContext c2;
  grpc::Status st = stub_->RuntimeHook(&c2, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext c3;
  EXPECT_EQ(stub_->RuntimeHook(&c3, tetragon::RuntimeHookRequest(), &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

tetragon::GetEventsResponse Event(const std::string& text) {
  tetragon::GetEventsResponse ev;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &ev));
  return ev;
}

TEST_F(FgsServiceTest, GetEventsTwoSubscribersWithOwnFilters) {
  tetragon::GetEventsRequest execs;  // only process_exec, only binary and pid
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    allow_list { event_set: PROCESS_EXEC }
    field_filters { fields { paths: "process.binary" } action: INCLUDE })pb", &execs));
  tetragon::GetEventsRequest policy;  // only events of policy "watch"
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(allow_list { policy_names: "watch" })pb", &policy));

  grpc::ClientContext ctx_a, ctx_b;
  auto stream_a = stub_->GetEvents(&ctx_a, execs);
  auto stream_b = stub_->GetEvents(&ctx_b, policy);
  for (int i = 0; i < 500 && bus_.stats().subscribers < 2; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(bus_.stats().subscribers, 2u);

  bus_.Publish(Event(R"pb(process_exec { process { binary: "/bin/ls" arguments: "-l" } } node_name: "n")pb"));
  bus_.Publish(Event(R"pb(process_tracepoint { policy_name: "other" })pb"));
  bus_.Publish(Event(R"pb(process_tracepoint { policy_name: "watch" subsys: "syscalls" })pb"));

  tetragon::GetEventsResponse got;
  ASSERT_TRUE(stream_a->Read(&got));
  EXPECT_EQ(got.process_exec().process().binary(), "/bin/ls");
  EXPECT_TRUE(got.process_exec().process().arguments().empty());  // trimmed by the field filter
  EXPECT_EQ(got.node_name(), "n");
  ASSERT_TRUE(stream_b->Read(&got));
  EXPECT_EQ(got.process_tracepoint().policy_name(), "watch");
  EXPECT_EQ(got.process_tracepoint().subsys(), "syscalls");

  // Nothing else was delivered: publish a marker each stream accepts.
  bus_.Publish(Event(R"pb(process_exec { process { binary: "/marker" } })pb"));
  bus_.Publish(Event(R"pb(process_tracepoint { policy_name: "watch" subsys: "marker" })pb"));
  ASSERT_TRUE(stream_a->Read(&got));
  EXPECT_EQ(got.process_exec().process().binary(), "/marker");
  ASSERT_TRUE(stream_b->Read(&got));
  EXPECT_EQ(got.process_tracepoint().subsys(), "marker");

  ctx_a.TryCancel();
  ctx_b.TryCancel();
  while (stream_a->Read(&got)) {}
  while (stream_b->Read(&got)) {}
  EXPECT_EQ(stream_a->Finish().error_code(), grpc::StatusCode::CANCELLED);
  stream_b->Finish();
  for (int i = 0; i < 500 && bus_.stats().subscribers > 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(bus_.stats().subscribers, 0u);  // streams unsubscribed
}

TEST_F(FgsServiceTest, GetEventsRejectsBadRequests) {
  struct Case { const char* req; grpc::StatusCode code; const char* want; };
  const Case cases[] = {
      {"allow_list { binary_regex: '(' }", grpc::StatusCode::INVALID_ARGUMENT, "allow_list[0].binary_regex[0]"},
      {"deny_list { cel_expression: 'x' }", grpc::StatusCode::INVALID_ARGUMENT, "cel_expression"},
      {"aggregation_options { channel_buffer_size: 1 }", grpc::StatusCode::UNIMPLEMENTED, "aggregation"},
      {"field_filters { fields { paths: 'nope' } }", grpc::StatusCode::INVALID_ARGUMENT, "field_filters[0]"},
  };
  for (const Case& c : cases) {
    tetragon::GetEventsRequest req;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(c.req, &req));
    grpc::ClientContext ctx;
    auto stream = stub_->GetEvents(&ctx, req);
    tetragon::GetEventsResponse got;
    EXPECT_FALSE(stream->Read(&got));
    grpc::Status st = stream->Finish();
    EXPECT_EQ(st.error_code(), c.code) << c.req;
    EXPECT_NE(st.error_message().find(c.want), std::string::npos) << st.error_message();
  }
}

// Every RPC asks the authorizer first, under its own method name, and a
// refusal is its answer: no RPC bypasses the check.
TEST(FgsServiceAuthorizeTest, EveryRpcAsksFirst) {
  BackendLog log;
  RecordingBackend backend{&log};
  PolicyManager mgr{&backend};
  EventBus bus;
  std::vector<std::string> asked;
  std::mutex mu;
  FgsServiceOptions opts;
  opts.policies = &mgr;
  opts.bus = &bus;
  opts.runtime_hook = [](const tetragon::RuntimeHookRequest&) { return absl::OkStatus(); };
  opts.authorize = [&](const grpc::ServerContext&, absl::string_view rpc) {
    std::lock_guard<std::mutex> l(mu);
    asked.emplace_back(rpc);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(rpc));
  };
  FgsService service(std::move(opts));
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = tetragon::FineGuidanceSensors::NewStub(server->InProcessChannel(grpc::ChannelArguments()));

  std::vector<grpc::Status> got;
#define TGD_CALL(Method, Req, Resp)                    \
  {                                                    \
    grpc::ClientContext ctx;                           \
    tetragon::Req req;                                 \
    tetragon::Resp resp;                               \
    got.push_back(stub->Method(&ctx, req, &resp));     \
  }
  TGD_CALL(GetHealth, GetHealthStatusRequest, GetHealthStatusResponse);
  TGD_CALL(AddTracingPolicy, AddTracingPolicyRequest, AddTracingPolicyResponse);
  TGD_CALL(DeleteTracingPolicy, DeleteTracingPolicyRequest, DeleteTracingPolicyResponse);
  TGD_CALL(ListTracingPolicies, ListTracingPoliciesRequest, ListTracingPoliciesResponse);
  TGD_CALL(ConfigureTracingPolicy, ConfigureTracingPolicyRequest, ConfigureTracingPolicyResponse);
  TGD_CALL(EnableTracingPolicy, EnableTracingPolicyRequest, EnableTracingPolicyResponse);
  TGD_CALL(DisableTracingPolicy, DisableTracingPolicyRequest, DisableTracingPolicyResponse);
  TGD_CALL(ListDomains, ListDomainsRequest, ListDomainsResponse);
  TGD_CALL(ListSensors, ListSensorsRequest, ListSensorsResponse);
  TGD_CALL(EnableSensor, EnableSensorRequest, EnableSensorResponse);
  TGD_CALL(DisableSensor, DisableSensorRequest, DisableSensorResponse);
  TGD_CALL(RemoveSensor, RemoveSensorRequest, RemoveSensorResponse);
  TGD_CALL(GetVersion, GetVersionRequest, GetVersionResponse);
  TGD_CALL(GetInfo, GetInfoRequest, GetInfoResponse);
  TGD_CALL(RuntimeHook, RuntimeHookRequest, RuntimeHookResponse);
  TGD_CALL(GetDebug, GetDebugRequest, GetDebugResponse);
  TGD_CALL(SetDebug, SetDebugRequest, SetDebugResponse);
#undef TGD_CALL
  {
    grpc::ClientContext ctx;
    auto reader = stub->GetEvents(&ctx, {});
    tetragon::GetEventsResponse ev;
    EXPECT_FALSE(reader->Read(&ev));
    got.push_back(reader->Finish());
  }
  const std::vector<std::string> want = {
      "GetHealth",   "AddTracingPolicy", "DeleteTracingPolicy", "ListTracingPolicies", "ConfigureTracingPolicy",
      "EnableTracingPolicy", "DisableTracingPolicy", "ListDomains", "ListSensors", "EnableSensor", "DisableSensor",
      "RemoveSensor", "GetVersion", "GetInfo", "RuntimeHook", "GetDebug", "SetDebug", "GetEvents"};
  EXPECT_EQ(asked, want);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].error_code(), grpc::StatusCode::PERMISSION_DENIED) << want[i];
    EXPECT_EQ(got[i].error_message(), want[i]);
  }
  EXPECT_TRUE(mgr.List().empty());
  bus.Close();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace
}  // namespace tgd
