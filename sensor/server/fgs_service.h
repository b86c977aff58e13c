// FgsService: tgdispatch's implementation of tetragon.FineGuidanceSensors.
// Policy RPCs go to the PolicyManager, GetEvents streams from the EventBus
// through the request's filters, RuntimeHook goes to a workload handler.
// Methods tgdispatch does not implement answer UNIMPLEMENTED with a reason.
#ifndef TGDISPATCH_SENSOR_SERVER_FGS_SERVICE_H_
#define TGDISPATCH_SENSOR_SERVER_FGS_SERVICE_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "api/sensors.grpc.pb.h"
#include "sensor/eventbus/event_bus.h"
#include "sensor/policymgr/policy_manager.h"

namespace tgd {

struct FgsServiceOptions {
  PolicyManager* policies = nullptr;  // required
  EventBus* bus = nullptr;            // required
  // Events a GetEvents stream may queue before it loses its own events.
  size_t stream_queue_capacity = 16384;
  // Handles RuntimeHook requests (container creation from OCI hooks);
  // unset: RuntimeHook answers UNIMPLEMENTED.
  std::function<absl::Status(const tetragon::RuntimeHookRequest&)> runtime_hook;
  // Sensors the daemon runs outside tracing policies (the base process
  // sensor), listed by ListSensors before the policies' sensors, with their
  // state at the time of the call. Unset: none.
  std::function<std::vector<tetragon::SensorStatus>()> daemon_sensors;
  // What the daemon is still doing at start ("loading --policy-dir: 12 of
  // 300 files"), added to GetHealth's details; empty once done. Unset: nothing.
  std::function<std::string()> startup_progress;
  // Extra configuration reported by GetInfo (key -> value).
  std::vector<std::pair<std::string, std::string>> info;
  // Asked first by every RPC with its method name ("AddTracingPolicy"); a
  // non-OK answer is the RPC's answer (PeerAuthorizer::Authorize). Unset:
  // every caller may call everything (tests over in-process channels).
  std::function<grpc::Status(const grpc::ServerContext&, absl::string_view rpc)> authorize;
  // Hook kinds this kernel cannot run, each "kind: reason" (GetHealth's
  // details list them).
  std::vector<std::string> unavailable_hooks;
};

class FgsService final : public tetragon::FineGuidanceSensors::Service {
 public:
  explicit FgsService(FgsServiceOptions options) : opts_(std::move(options)) {}

  grpc::Status GetEvents(grpc::ServerContext* ctx, const tetragon::GetEventsRequest* req,
                         grpc::ServerWriter<tetragon::GetEventsResponse>* writer) override;
  grpc::Status GetHealth(grpc::ServerContext*, const tetragon::GetHealthStatusRequest*,
                         tetragon::GetHealthStatusResponse*) override;
  grpc::Status AddTracingPolicy(grpc::ServerContext*, const tetragon::AddTracingPolicyRequest*,
                                tetragon::AddTracingPolicyResponse*) override;
  grpc::Status DeleteTracingPolicy(grpc::ServerContext*, const tetragon::DeleteTracingPolicyRequest*,
                                   tetragon::DeleteTracingPolicyResponse*) override;
  grpc::Status ListTracingPolicies(grpc::ServerContext*, const tetragon::ListTracingPoliciesRequest*,
                                   tetragon::ListTracingPoliciesResponse*) override;
  // Policy domains: only Tetragon's default domain ("") exists here. A
  // request naming another domain is refused (UNIMPLEMENTED, naming
  // `domain`), or lists nothing (ListTracingPolicies).
  grpc::Status ListDomains(grpc::ServerContext*, const tetragon::ListDomainsRequest*,
                           tetragon::ListDomainsResponse*) override;
  grpc::Status ConfigureTracingPolicy(grpc::ServerContext*,
                                      const tetragon::ConfigureTracingPolicyRequest*,
                                      tetragon::ConfigureTracingPolicyResponse*) override;
  grpc::Status EnableTracingPolicy(grpc::ServerContext*, const tetragon::EnableTracingPolicyRequest*,
                                   tetragon::EnableTracingPolicyResponse*) override;
  grpc::Status DisableTracingPolicy(grpc::ServerContext*, const tetragon::DisableTracingPolicyRequest*,
                                    tetragon::DisableTracingPolicyResponse*) override;
  grpc::Status ListSensors(grpc::ServerContext*, const tetragon::ListSensorsRequest*,
                           tetragon::ListSensorsResponse*) override;
  grpc::Status EnableSensor(grpc::ServerContext*, const tetragon::EnableSensorRequest*,
                            tetragon::EnableSensorResponse*) override;
  grpc::Status DisableSensor(grpc::ServerContext*, const tetragon::DisableSensorRequest*,
                             tetragon::DisableSensorResponse*) override;
  grpc::Status RemoveSensor(grpc::ServerContext*, const tetragon::RemoveSensorRequest*,
                            tetragon::RemoveSensorResponse*) override;
  grpc::Status GetVersion(grpc::ServerContext*, const tetragon::GetVersionRequest*,
                          tetragon::GetVersionResponse*) override;
  grpc::Status GetInfo(grpc::ServerContext*, const tetragon::GetInfoRequest*,
                       tetragon::GetInfoResponse*) override;
  grpc::Status RuntimeHook(grpc::ServerContext*, const tetragon::RuntimeHookRequest*,
                           tetragon::RuntimeHookResponse*) override;
  grpc::Status GetDebug(grpc::ServerContext*, const tetragon::GetDebugRequest*,
                        tetragon::GetDebugResponse*) override;
  grpc::Status SetDebug(grpc::ServerContext*, const tetragon::SetDebugRequest*,
                        tetragon::SetDebugResponse*) override;

 private:
  grpc::Status Authorize(const grpc::ServerContext* ctx, absl::string_view rpc) const;

  FgsServiceOptions opts_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_SERVER_FGS_SERVICE_H_
