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
  if (!doc.ok()) return doc.status();  // no name to list it under: no trace
  return AddParsed(*std::move(doc));
}

absl::Status PolicyManager::AddParsed(PolicyDocument doc, OnFailure on_failure) {
  Key key{doc.namespace_, doc.name};
  const std::string what = Describe(key.first, key.second);
  absl::MutexLock lock(&mu_);
  if (auto it = policies_.find(key); it != policies_.end() && it->second.loaded != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat(what, " already exists"));
  }
  // Not there, or there in TP_STATE_LOAD_ERROR: as Tetragon does, a policy
  // that failed to load may be added again and the new attempt replaces it.
  Entry e;
  e.id = next_id_++;
  absl::Status st = LoadLocked(doc, &e);
  if (st.ok()) {
    e.doc = std::move(doc);
  } else {
    // Listed by identity only: the text and model are not kept.
    e.doc.kind = std::move(doc.kind);
    e.doc.name = std::move(doc.name);
    e.doc.namespace_ = std::move(doc.namespace_);
  }
  if (st.ok()) {
    LOG(INFO) << "added " << what << " (id " << e.id << ", filter id " << e.filter_id << ", loader "
              << loader_name_ << ")";
  } else {
    e.error = std::string(st.message());
    st = absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
    if (on_failure == OnFailure::kForget) return st;  // the list is as it was
    LOG(WARNING) << what << " failed to load, listed as TP_STATE_LOAD_ERROR: " << e.error;
  }
  policies_.insert_or_assign(std::move(key), std::move(e));
  return st;
}

absl::Status PolicyManager::LoadLocked(const PolicyDocument& doc, Entry* e) {
  if (backend_ == nullptr) return absl::FailedPreconditionError("no policy loader configured");
  if (doc.scoped()) {
    // Spent whatever happens below: an id that failed (say, it collided
    // with an entry someone else made meanwhile) is not tried again.
    absl::StatusOr<uint32_t> id = filter_ids_.Next();
    if (!id.ok()) return id.status();
    e->filter_id = *id;
  }
  absl::StatusOr<std::unique_ptr<LoadedPolicy>> loaded =
      backend_->Load(doc, e->filter_id, PolicyMode::kEnforce);
  if (!loaded.ok()) return loaded.status();
  e->loaded = *std::move(loaded);
  return absl::OkStatus();
}

absl::Status PolicyManager::AddLoadError(const std::string& name, const std::string& ns,
                                         std::string error) {
  Key key{ns, name};
  absl::MutexLock lock(&mu_);
  if (auto it = policies_.find(key); it != policies_.end() && it->second.loaded != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat(Describe(ns, name), " already exists"));
  }
  Entry e;
  e.id = next_id_++;
  e.doc.name = name;
  e.doc.namespace_ = ns;
  e.error = std::move(error);
  policies_.insert_or_assign(std::move(key), std::move(e));
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
  if (e.loaded == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(ns, name), " failed to load (", e.error,
                                                      "): delete it or add it again"));
  }
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
    st.set_info(absl::StrCat("loader=", loader_name_));
    if (e.loaded == nullptr) {
      // As Tetragon lists a policy whose load failed: its error, nothing
      // loaded, no mode in effect (TP_MODE_UNKNOWN), no stats.
      st.set_state(tetragon::TP_STATE_LOAD_ERROR);
      st.set_error(e.error);
      out.push_back(std::move(st));
      continue;
    }
    // Deprecated upstream in favour of `state`, but older clients still read it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    st.set_enabled(e.enabled);
#pragma GCC diagnostic pop
    st.set_state(e.enabled ? tetragon::TP_STATE_ENABLED : tetragon::TP_STATE_DISABLED);
    st.set_mode(e.mode == PolicyMode::kEnforce ? tetragon::TP_MODE_ENFORCE : tetragon::TP_MODE_MONITOR);
    st.set_kernel_memory_bytes(e.loaded->KernelMemoryBytes());
    for (const std::string& s : e.loaded->Sensors()) st.add_sensors(s);
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
    if (e.loaded == nullptr) continue;  // nothing loaded
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
  size_t n = 0;
  for (const auto& [key, e] : policies_) n += e.loaded != nullptr;
  return n;
}

}  // namespace tgd
