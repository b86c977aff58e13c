// PolicyManager implementation.
#include "sensor/policymgr/policy_manager.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"

namespace tgd {
namespace {

std::string Describe(const std::string& ns, const std::string& name) {
  return ns.empty() ? absl::StrCat("tracing policy \"", name, "\"")
                    : absl::StrCat("tracing policy \"", ns, "/", name, "\"");
}

class UnavailableBackend final : public PolicyBackend {
 public:
  UnavailableBackend(std::string loader, std::string why)
      : loader_(std::move(loader)), why_(std::move(why)) {}
  std::string Name() const override { return loader_; }
  absl::Status Availability() const override {
    return absl::FailedPreconditionError(
        absl::StrCat("loader \"", loader_, "\" is not available: ", why_));
  }
  absl::StatusOr<std::unique_ptr<LoadedPolicy>> Load(const PolicyDocument&, uint32_t,
                                                     PolicyMode) override {
    return Availability();
  }

 private:
  std::string loader_, why_;
};

}  // namespace

std::unique_ptr<PolicyBackend> MakeUnavailableBackend(std::string loader, std::string why) {
  return std::make_unique<UnavailableBackend>(std::move(loader), std::move(why));
}

PolicyManager::~PolicyManager() {
  absl::MutexLock lock(&mu_);
  policies_.clear();  // unloads every policy
}

absl::Status PolicyManager::Add(absl::string_view yaml) {
  absl::StatusOr<PolicyDocument> doc = ParsePolicyDocument(yaml);
  if (!doc.ok()) return doc.status();
  Key key{doc->namespace_, doc->name};
  absl::MutexLock lock(&mu_);
  if (policies_.contains(key)) {
    return absl::AlreadyExistsError(absl::StrCat(Describe(key.first, key.second), " already exists"));
  }
  if (backend_ == nullptr) return absl::FailedPreconditionError("no policy loader configured");
  Entry e;
  if (doc->scoped()) {
    // Spent whatever happens below: an id that failed (say, it collided
    // with an entry someone else made meanwhile) is not tried again.
    absl::StatusOr<uint32_t> id = filter_ids_.Next();
    if (!id.ok()) {
      return absl::Status(id.status().code(),
                          absl::StrCat(Describe(key.first, key.second), ": ", id.status().message()));
    }
    e.filter_id = *id;
  }
  absl::StatusOr<std::unique_ptr<LoadedPolicy>> loaded =
      backend_->Load(*doc, e.filter_id, PolicyMode::kEnforce);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat(Describe(key.first, key.second), ": ", loaded.status().message()));
  }
  e.id = next_id_++;
  e.doc = *std::move(doc);
  e.loaded = *std::move(loaded);
  LOG(INFO) << "added " << Describe(key.first, key.second) << " (id " << e.id << ", filter id "
            << e.filter_id << ", loader " << loader_name_ << ")";
  policies_.emplace(std::move(key), std::move(e));
  return absl::OkStatus();
}

absl::Status PolicyManager::Delete(const std::string& name, const std::string& ns) {
  absl::MutexLock lock(&mu_);
  auto it = policies_.find({ns, name});
  if (it == policies_.end()) return absl::NotFoundError(absl::StrCat(Describe(ns, name), " not found"));
  policies_.erase(it);  // the LoadedPolicy destructor unloads it
  LOG(INFO) << "deleted " << Describe(ns, name);
  return absl::OkStatus();
}

absl::Status PolicyManager::Configure(const std::string& name, const std::string& ns,
                                      std::optional<bool> enable,
                                      std::optional<tetragon::TracingPolicyMode> mode) {
  std::optional<PolicyMode> new_mode;
  if (mode.has_value()) {
    switch (*mode) {
      case tetragon::TP_MODE_ENFORCE: new_mode = PolicyMode::kEnforce; break;
      case tetragon::TP_MODE_MONITOR: new_mode = PolicyMode::kMonitor; break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "mode: ", tetragon::TracingPolicyMode_Name(*mode), " cannot be requested (use TP_MODE_ENFORCE or TP_MODE_MONITOR)"));
    }
  }
  absl::MutexLock lock(&mu_);
  auto it = policies_.find({ns, name});
  if (it == policies_.end()) return absl::NotFoundError(absl::StrCat(Describe(ns, name), " not found"));
  Entry& e = it->second;
  if (enable.has_value() && *enable != e.enabled) {
    absl::Status st = e.loaded->SetEnabled(*enable);
    if (!st.ok()) return st;
    e.enabled = *enable;
  }
  if (new_mode.has_value() && *new_mode != e.mode) {
    absl::Status st = e.loaded->SetMode(*new_mode);
    if (!st.ok()) return st;
    e.mode = *new_mode;
  }
  return absl::OkStatus();
}

std::vector<tetragon::TracingPolicyStatus> PolicyManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<tetragon::TracingPolicyStatus> out;
  for (const auto& [key, e] : policies_) {
    tetragon::TracingPolicyStatus st;
    st.set_id(e.id);
    st.set_name(e.doc.name);
    st.set_namespace_(e.doc.namespace_);
    st.set_filter_id(e.filter_id);
    // Deprecated upstream in favour of `state`, but older clients still read it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    st.set_enabled(e.enabled);
#pragma GCC diagnostic pop
    st.set_state(e.enabled ? tetragon::TP_STATE_ENABLED : tetragon::TP_STATE_DISABLED);
    st.set_mode(e.mode == PolicyMode::kEnforce ? tetragon::TP_MODE_ENFORCE : tetragon::TP_MODE_MONITOR);
    st.set_kernel_memory_bytes(e.loaded->KernelMemoryBytes());
    for (const std::string& s : e.loaded->Sensors()) st.add_sensors(s);
    st.set_info(absl::StrCat("loader=", loader_name_));
    PolicyCounters c = e.loaded->Counters();
    auto* ac = st.mutable_stats()->mutable_action_counters();
    ac->set_post(c.events);
    ac->set_signal(c.signals);
    ac->set_monitor_signal(c.monitor_signals);
    ac->set_override(c.overrides);
    ac->set_monitor_override(c.monitor_overrides);
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<tetragon::SensorStatus> PolicyManager::Sensors() const {
  absl::MutexLock lock(&mu_);
  std::vector<tetragon::SensorStatus> out;
  for (const auto& [key, e] : policies_) {
    for (const std::string& s : e.loaded->Sensors()) {
      tetragon::SensorStatus ss;
      ss.set_name(s);
      ss.set_enabled(e.enabled);
      ss.set_collection(key.first.empty() ? e.doc.name : absl::StrCat(key.first, "/", e.doc.name));
      out.push_back(std::move(ss));
    }
  }
  return out;
}

absl::Status PolicyManager::LoaderStatus() const {
  if (backend_ == nullptr) return absl::FailedPreconditionError("no policy loader configured");
  return backend_->Availability();
}

size_t PolicyManager::size() const {
  absl::MutexLock lock(&mu_);
  return policies_.size();
}

}  // namespace tgd
