// FgsService implementation.
#include "sensor/server/fgs_service.h"

#include <gflags/gflags.h>
#include <glog/logging.h>
#include <google/protobuf/wrappers.pb.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sensor/base/version.h"
#include "sensor/eventfilter/event_filter.h"
#include "sensor/eventfilter/field_filter.h"
#include "sensor/server/grpc_status.h"

namespace tgd {
namespace {

grpc::Status Unimplemented(absl::string_view what) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, std::string(what));
}

// Tetragon log levels onto glog: minloglevel for ERROR/WARN/INFO, verbose
// logging for DEBUG (v=1) and TRACE (v=2).
void ApplyLogLevel(tetragon::LogLevel level) {
  int minlog = 0, v = 0;
  switch (level) {
    case tetragon::LOG_LEVEL_PANIC:
    case tetragon::LOG_LEVEL_FATAL: minlog = 3; break;
    case tetragon::LOG_LEVEL_ERROR: minlog = 2; break;
    case tetragon::LOG_LEVEL_WARN: minlog = 1; break;
    case tetragon::LOG_LEVEL_INFO: break;
    case tetragon::LOG_LEVEL_DEBUG: v = 1; break;
    default: v = 2; break;
  }
  FLAGS_minloglevel = minlog;
  FLAGS_v = v;
}

tetragon::LogLevel CurrentLogLevel() {
  if (FLAGS_v >= 2) return tetragon::LOG_LEVEL_TRACE;
  if (FLAGS_v == 1) return tetragon::LOG_LEVEL_DEBUG;
  switch (FLAGS_minloglevel) {
    case 0: return tetragon::LOG_LEVEL_INFO;
    case 1: return tetragon::LOG_LEVEL_WARN;
    case 2: return tetragon::LOG_LEVEL_ERROR;
    default: return tetragon::LOG_LEVEL_FATAL;
  }
}

}  // namespace

grpc::Status FgsService::Authorize(const grpc::ServerContext* ctx, absl::string_view rpc) const {
  if (!opts_.authorize) return grpc::Status::OK;
  return opts_.authorize(*ctx, rpc);
}

grpc::Status FgsService::GetEvents(grpc::ServerContext* ctx, const tetragon::GetEventsRequest* req,
                                   grpc::ServerWriter<tetragon::GetEventsResponse>* writer) {
  if (grpc::Status a = Authorize(ctx, "GetEvents"); !a.ok()) return a;
  if (req->has_aggregation_options()) {
    return Unimplemented("aggregation_options: event aggregation is not supported by tgdispatch");
  }
  absl::StatusOr<EventFilter> filter = EventFilter::Create(req->allow_list(), req->deny_list());
  if (!filter.ok()) return ToGrpcStatus(filter.status());
  absl::StatusOr<FieldFilters> fields = FieldFilters::Create(req->field_filters());
  if (!fields.ok()) return ToGrpcStatus(fields.status());

  auto sub = opts_.bus->Subscribe(opts_.stream_queue_capacity);
  VLOG(1) << "GetEvents stream from " << ctx->peer() << " started";
  while (!ctx->IsCancelled()) {
    EventBus::Event ev;
    if (!sub->Next(&ev, absl::Now() + absl::Milliseconds(200))) {
      if (opts_.bus->closed()) break;
      continue;
    }
    if (!filter->Allows(*ev)) continue;
    bool ok;
    if (fields->empty()) {
      ok = writer->Write(*ev);
    } else {
      tetragon::GetEventsResponse copy = *ev;
      fields->Apply(&copy);
      ok = writer->Write(copy);
    }
    if (!ok) break;  // client gone
  }
  if (sub->dropped() > 0) {
    LOG(WARNING) << "GetEvents stream from " << ctx->peer() << " lost " << sub->dropped()
                 << " events (client too slow)";
  }
  return grpc::Status::OK;
}

grpc::Status FgsService::GetHealth(grpc::ServerContext* ctx, const tetragon::GetHealthStatusRequest*,
                                   tetragon::GetHealthStatusResponse* resp) {
  if (grpc::Status a = Authorize(ctx, "GetHealth"); !a.ok()) return a;
  // One HEALTH_STATUS_TYPE_STATUS entry, as Tetragon answers. Tetragon says
  // RUNNING once its sensors are up; a daemon whose datapath did not start
  // serves the API and process events but cannot load any tracing policy,
  // so it says ERROR and names what is missing instead of RUNNING.
  auto* h = resp->add_health_status();
  h->set_event(tetragon::HEALTH_STATUS_TYPE_STATUS);
  absl::Status loader = opts_.policies->LoaderStatus();
  if (!loader.ok()) {
    h->set_status(tetragon::HEALTH_STATUS_ERROR);
    // `tetra status` prints only the details: they start with the state.
    h->set_details(absl::StrCat("error: datapath unavailable, tracing policies cannot be loaded: ",
                                loader.message()));
    return grpc::Status::OK;
  }
  // Tetragon says RUNNING once it serves; so do we while --policy-dir is
  // still loading in the background, and the details say how far it got.
  h->set_status(tetragon::HEALTH_STATUS_RUNNING);
  std::string progress = opts_.startup_progress ? opts_.startup_progress() : "";
  std::string details = absl::StrCat("running; ", progress.empty() ? "" : absl::StrCat(progress, "; "),
                                     opts_.policies->size(), " tracing policies loaded (loader ",
                                     opts_.policies->loader_name(), ")");
  if (!opts_.unavailable_hooks.empty()) {
    absl::StrAppend(&details, "; hook kinds this kernel cannot run: ", absl::StrJoin(opts_.unavailable_hooks, "; "));
  }
  h->set_details(details);
  return grpc::Status::OK;
}

namespace {

// Policy domains: every policy here is in Tetragon's default domain ("").
grpc::Status CheckDomain(const std::string& domain) {
  if (domain.empty()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "domain: \"" + domain + "\": tgdispatch has only the default policy domain (\"\")");
}

}  // namespace

grpc::Status FgsService::AddTracingPolicy(grpc::ServerContext* ctx,
                                          const tetragon::AddTracingPolicyRequest* req,
                                          tetragon::AddTracingPolicyResponse*) {
  if (grpc::Status a = Authorize(ctx, "AddTracingPolicy"); !a.ok()) return a;
  if (grpc::Status st = CheckDomain(req->domain()); !st.ok()) return st;
  return ToGrpcStatus(opts_.policies->AddPersisted(req->yaml()));  // kept across restarts
}

grpc::Status FgsService::DeleteTracingPolicy(grpc::ServerContext* ctx,
                                             const tetragon::DeleteTracingPolicyRequest* req,
                                             tetragon::DeleteTracingPolicyResponse*) {
  if (grpc::Status a = Authorize(ctx, "DeleteTracingPolicy"); !a.ok()) return a;
  if (req->name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: required");
  }
  if (grpc::Status st = CheckDomain(req->domain()); !st.ok()) return st;
  return ToGrpcStatus(opts_.policies->Delete(req->name(), req->namespace_()));
}

grpc::Status FgsService::ListTracingPolicies(grpc::ServerContext* ctx,
                                             const tetragon::ListTracingPoliciesRequest* req,
                                             tetragon::ListTracingPoliciesResponse* resp) {
  if (grpc::Status a = Authorize(ctx, "ListTracingPolicies"); !a.ok()) return a;
  if (!req->domain().empty()) return grpc::Status::OK;  // no policy is in another domain
  for (auto& p : opts_.policies->List()) *resp->add_policies() = std::move(p);
  return grpc::Status::OK;
}

grpc::Status FgsService::ConfigureTracingPolicy(grpc::ServerContext* ctx,
                                                const tetragon::ConfigureTracingPolicyRequest* req,
                                                tetragon::ConfigureTracingPolicyResponse*) {
  if (grpc::Status a = Authorize(ctx, "ConfigureTracingPolicy"); !a.ok()) return a;
  if (req->name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: required");
  }
  if (grpc::Status st = CheckDomain(req->domain()); !st.ok()) return st;
  std::optional<bool> enable;
  if (req->has_enable()) enable = req->enable();
  std::optional<tetragon::TracingPolicyMode> mode;
  if (req->has_mode()) mode = req->mode();
  return ToGrpcStatus(opts_.policies->Configure(req->name(), req->namespace_(), enable, mode));
}

grpc::Status FgsService::EnableTracingPolicy(grpc::ServerContext* ctx,
                                             const tetragon::EnableTracingPolicyRequest* req,
                                             tetragon::EnableTracingPolicyResponse*) {
  if (grpc::Status a = Authorize(ctx, "EnableTracingPolicy"); !a.ok()) return a;
  if (grpc::Status st = CheckDomain(req->domain()); !st.ok()) return st;
  return ToGrpcStatus(opts_.policies->Configure(req->name(), req->namespace_(), true, std::nullopt));
}

grpc::Status FgsService::DisableTracingPolicy(grpc::ServerContext* ctx,
                                              const tetragon::DisableTracingPolicyRequest* req,
                                              tetragon::DisableTracingPolicyResponse*) {
  if (grpc::Status a = Authorize(ctx, "DisableTracingPolicy"); !a.ok()) return a;
  if (grpc::Status st = CheckDomain(req->domain()); !st.ok()) return st;
  return ToGrpcStatus(opts_.policies->Configure(req->name(), req->namespace_(), false, std::nullopt));
}

grpc::Status FgsService::ListDomains(grpc::ServerContext* ctx, const tetragon::ListDomainsRequest*,
                                     tetragon::ListDomainsResponse* resp) {
  if (grpc::Status a = Authorize(ctx, "ListDomains"); !a.ok()) return a;
  // As Tetragon: the domains that hold policies, sorted; here only "".
  if (!opts_.policies->List().empty()) resp->add_domains("");
  return grpc::Status::OK;
}

grpc::Status FgsService::ListSensors(grpc::ServerContext* ctx, const tetragon::ListSensorsRequest*,
                                     tetragon::ListSensorsResponse* resp) {
  if (grpc::Status a = Authorize(ctx, "ListSensors"); !a.ok()) return a;
  if (opts_.daemon_sensors) {
    for (auto& s : opts_.daemon_sensors()) *resp->add_sensors() = std::move(s);
  }
  for (auto& s : opts_.policies->Sensors()) *resp->add_sensors() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status FgsService::EnableSensor(grpc::ServerContext* ctx, const tetragon::EnableSensorRequest*,
                                      tetragon::EnableSensorResponse*) {
  if (grpc::Status a = Authorize(ctx, "EnableSensor"); !a.ok()) return a;
  return Unimplemented(
      "EnableSensor: sensors belong to tracing policies in tgdispatch; use ConfigureTracingPolicy");
}

grpc::Status FgsService::DisableSensor(grpc::ServerContext* ctx, const tetragon::DisableSensorRequest*,
                                       tetragon::DisableSensorResponse*) {
  if (grpc::Status a = Authorize(ctx, "DisableSensor"); !a.ok()) return a;
  return Unimplemented(
      "DisableSensor: sensors belong to tracing policies in tgdispatch; use ConfigureTracingPolicy");
}

grpc::Status FgsService::RemoveSensor(grpc::ServerContext* ctx, const tetragon::RemoveSensorRequest*,
                                      tetragon::RemoveSensorResponse*) {
  if (grpc::Status a = Authorize(ctx, "RemoveSensor"); !a.ok()) return a;
  return Unimplemented(
      "RemoveSensor: sensors belong to tracing policies in tgdispatch; use DeleteTracingPolicy");
}

grpc::Status FgsService::GetVersion(grpc::ServerContext* ctx, const tetragon::GetVersionRequest*,
                                    tetragon::GetVersionResponse* resp) {
  if (grpc::Status a = Authorize(ctx, "GetVersion"); !a.ok()) return a;
  resp->set_version(kVersion);
  return grpc::Status::OK;
}

grpc::Status FgsService::GetInfo(grpc::ServerContext* ctx, const tetragon::GetInfoRequest*,
                                 tetragon::GetInfoResponse* resp) {
  if (grpc::Status a = Authorize(ctx, "GetInfo"); !a.ok()) return a;
  resp->set_version(kVersion);
  resp->set_name(kProductName);
  for (const auto& [key, value] : opts_.info) {
    auto* conf = resp->add_conf();
    conf->set_key(key);
    google::protobuf::StringValue v;
    v.set_value(value);
    conf->mutable_value()->PackFrom(v);
  }
  return grpc::Status::OK;
}

grpc::Status FgsService::RuntimeHook(grpc::ServerContext* ctx, const tetragon::RuntimeHookRequest* req,
                                     tetragon::RuntimeHookResponse*) {
  if (grpc::Status a = Authorize(ctx, "RuntimeHook"); !a.ok()) return a;
  if (!opts_.runtime_hook) {
    return Unimplemented("RuntimeHook: this daemon runs without a workload registry");
  }
  if (!req->has_createcontainer()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "event: createContainer is required");
  }
  return ToGrpcStatus(opts_.runtime_hook(*req));
}

grpc::Status FgsService::GetDebug(grpc::ServerContext* ctx, const tetragon::GetDebugRequest* req,
                                  tetragon::GetDebugResponse* resp) {
  if (grpc::Status a = Authorize(ctx, "GetDebug"); !a.ok()) return a;
  resp->set_flag(req->flag());
  switch (req->flag()) {
    case tetragon::CONFIG_FLAG_LOG_LEVEL:
      resp->set_level(CurrentLogLevel());
      return grpc::Status::OK;
    case tetragon::CONFIG_FLAG_DUMP_PROCESS_CACHE:
      return Unimplemented("GetDebug: dumping the process cache is not supported by tgdispatch yet");
    default:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "flag: unknown config flag");
  }
}

grpc::Status FgsService::SetDebug(grpc::ServerContext* ctx, const tetragon::SetDebugRequest* req,
                                  tetragon::SetDebugResponse* resp) {
  if (grpc::Status a = Authorize(ctx, "SetDebug"); !a.ok()) return a;
  if (req->flag() != tetragon::CONFIG_FLAG_LOG_LEVEL) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "flag: only CONFIG_FLAG_LOG_LEVEL can be set");
  }
  if (!req->has_level() || !tetragon::LogLevel_IsValid(req->level())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "level: a valid log level is required");
  }
  ApplyLogLevel(req->level());
  LOG(INFO) << "log level set to " << tetragon::LogLevel_Name(req->level());
  resp->set_flag(req->flag());
  resp->set_level(CurrentLogLevel());
  return grpc::Status::OK;
}

}  // namespace tgd
