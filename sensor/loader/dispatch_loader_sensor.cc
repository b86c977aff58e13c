// DispatchBackend's loader sensor (loader: true): one LoaderSensor
// (sensor/loaderevents) shared by every enabled policy that asks for it,
// started by the first and stopped when the last lets it go.
#include "absl/strings/str_cat.h"
#include "sensor/loader/dispatch_backend.h"

namespace tgd {

absl::StatusOr<std::shared_ptr<LoaderSensor>> DispatchBackend::AcquireLoaderSensor() {
  absl::MutexLock l(&loader_mu_);
  if (std::shared_ptr<LoaderSensor> s = loader_sensor_.lock()) return s;
  LoaderSensorOptions o;
  o.processes = opts_.processes;
  o.bus = opts_.bus;
  o.node_name = opts_.node_name;
  o.boot_wall_ns = boot_wall_ns_;
  o.ancestors = opts_.ancestors.loader;
  auto s = LoaderSensor::Create(std::move(o));
  if (!s.ok()) {
    return absl::Status(s.status().code(), absl::StrCat("spec.loader: the loader sensor: ", s.status().message()));
  }
  std::shared_ptr<LoaderSensor> shared = std::move(*s);
  loader_sensor_ = shared;
  return shared;
}

}  // namespace tgd
