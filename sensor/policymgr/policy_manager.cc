// PolicyManager implementation.
#include "sensor/policymgr/policy_manager.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "compat/policy/spec_options.h"

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
  std::map<Key, Entry> doomed;
  {
    absl::MutexLock lock(&mu_);
    doomed.swap(policies_);
  }
  doomed.clear();  // unloads every policy, outside the lock
}

PolicyManager::RequestSlot::RequestSlot(PolicyManager* m) : m_(m) {
  auto free_slot = [m] {
    m->slots_mu_.AssertHeld();
    return m->slots_in_use_ < m->max_concurrent_requests_;
  };
  absl::MutexLock lock(&m->slots_mu_);
  m->slots_mu_.Await(absl::Condition(&free_slot));
  ++m->slots_in_use_;
}

PolicyManager::RequestSlot::~RequestSlot() {
  absl::MutexLock lock(&m_->slots_mu_);
  --m_->slots_in_use_;
}

absl::Status PolicyManager::Add(absl::string_view yaml) {
  // Parsing costs memory in proportion to the input (bounded, a few MB per
  // 1 MiB document): a few at a time, whatever the number of clients.
  RequestSlot slot(this);
  absl::StatusOr<PolicyDocument> doc = ParsePolicyDocument(yaml);
  if (!doc.ok()) return doc.status();  // no name to list it under: no trace
  return AddParsed(*std::move(doc));
}

absl::Status PolicyManager::AddPersisted(absl::string_view yaml) {
  RequestSlot slot(this);
  absl::StatusOr<PolicyDocument> doc = ParsePolicyDocument(yaml);
  if (!doc.ok()) return doc.status();
  AddOptions o;
  o.persist = true;
  return AddParsed(*std::move(doc), OnFailure::kForget, o);
}

absl::Status PolicyManager::SaveState(const Entry& e) {
  if (!e.persisted || persistence_ == nullptr) return absl::OkStatus();
  PersistedPolicy p;
  p.namespace_ = e.doc.namespace_;
  p.name = e.doc.name;
  p.yaml = e.doc.yaml;
  p.enabled = e.enabled;
  p.mode = e.mode;
  absl::Status st = persistence_->Save(p);
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat("recording ", Describe(p.namespace_, p.name),
                                                " in the state directory: ", st.message()));
  }
  return st;
}

absl::Status PolicyManager::AddParsed(PolicyDocument doc, OnFailure on_failure, const AddOptions& options) {
  Key key{doc.namespace_, doc.name};
  const std::string what = Describe(key.first, key.second);
  uint64_t id = 0;
  uint32_t filter_id = 0;
  absl::Status st;
  // Replaced by this add (a policy that failed to load): put back if this
  // add fails and leaves no trace.
  std::optional<Entry> replaced;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = policies_.find(key); it != policies_.end()) {
      if (it->second.loading) return absl::AlreadyExistsError(absl::StrCat(what, " is being added"));
      if (it->second.loaded != nullptr) return absl::AlreadyExistsError(absl::StrCat(what, " already exists"));
      // There in TP_STATE_LOAD_ERROR: as Tetragon does, a policy that failed
      // to load may be added again and the new attempt replaces it.
      replaced = std::move(it->second);
      policies_.erase(it);
    }
    Entry e;
    e.id = id = next_id_++;
    e.persisted = options.persisted;  // a delete while it loads forgets the record
    // Listed by identity only until it has loaded.
    e.doc.kind = doc.kind;
    e.doc.name = doc.name;
    e.doc.namespace_ = doc.namespace_;
    if (backend_ == nullptr) {
      st = absl::FailedPreconditionError("no policy loader configured");
    } else if (doc.scoped()) {
      // Spent whatever happens below: an id that failed (say, it collided
      // with an entry someone else made meanwhile) is not tried again.
      absl::StatusOr<uint32_t> fid = filter_ids_.Next();
      if (fid.ok()) {
        e.filter_id = filter_id = *fid;
      } else {
        st = fid.status();
      }
    }
    e.loading = st.ok();
    policies_.emplace(key, std::move(e));  // TP_STATE_LOADING
  }
  // The load (compiling, verifying, attaching, RCU waits) runs without the
  // lock: list, health, delete and other adds go on meanwhile.
  std::unique_ptr<LoadedPolicy> loaded;
  // spec.options policy-mode: the mode the policy starts in, as Tetragon.
  PolicyMode start_mode = PolicyMode::kEnforce;
  if (st.ok() && doc.model != nullptr) {
    absl::StatusOr<policy::SpecOptions> o = policy::ParseSpecOptions(*doc.model);
    if (!o.ok()) {
      st = o.status();
    } else if (o->policy_mode == "monitor") {
      start_mode = PolicyMode::kMonitor;
    }
  }
  // A policy brought back from the state dir starts in its recorded mode
  // (a later configure may have changed it from the spec's); a caller's
  // explicit monitor mode wins over the spec's.
  if (options.persisted || options.mode == PolicyMode::kMonitor) start_mode = options.mode;
  if (st.ok()) {
    absl::StatusOr<std::unique_ptr<LoadedPolicy>> l =
        options.enabled ? backend_->Load(doc, filter_id, start_mode)
                        : backend_->LoadInState(doc, filter_id, start_mode, /*enabled=*/false);
    if (l.ok()) {
      loaded = *std::move(l);
    } else {
      st = l.status();
    }
  }
  std::unique_ptr<LoadedPolicy> discard;  // unloaded after the lock is released
  absl::MutexLock lock(&mu_);
  auto it = policies_.find(key);
  if (it == policies_.end() || it->second.id != id) {
    // Deleted while it was loading (and perhaps added again since). Its
    // delete already forgot any record of it.
    discard = std::move(loaded);
    return absl::AbortedError(absl::StrCat(what, " was deleted while it was loading"));
  }
  Entry& e = it->second;
  e.loading = false;
  e.persisted = options.persisted;
  if (st.ok()) {
    e.loaded = std::move(loaded);
    e.mode = start_mode;
    e.doc = std::move(doc);
    e.enabled = options.enabled;
    if (options.persist && persistence_ != nullptr) {
      e.persisted = true;
      // A small synced file write under the lock: it orders the records of
      // concurrent adds, deletes and configures of one policy.
      st = SaveState(e);
      if (!st.ok()) {
        discard = std::move(e.loaded);
        policies_.erase(it);
        if (replaced.has_value()) policies_.emplace(key, *std::move(replaced));
        return st;
      }
    }
    LOG(INFO) << "added " << what << " (id " << e.id << ", filter id " << e.filter_id << ", loader "
              << loader_name_ << ")";
    return st;
  }
  e.error = std::string(st.message());
  st = absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
  if (on_failure == OnFailure::kForget) {
    // A recorded policy stays recorded: a later add or a delete decides.
    policies_.erase(it);  // the list is as it was
    if (replaced.has_value()) policies_.emplace(key, *std::move(replaced));
    return st;
  }
  LOG(WARNING) << what << " failed to load, listed as TP_STATE_LOAD_ERROR: " << e.error;
  return st;
}

absl::Status PolicyManager::AddLoadError(const std::string& name, const std::string& ns,
                                         std::string error, bool persisted) {
  Key key{ns, name};
  absl::MutexLock lock(&mu_);
  if (auto it = policies_.find(key);
      it != policies_.end() && (it->second.loaded != nullptr || it->second.loading)) {
    return absl::AlreadyExistsError(absl::StrCat(Describe(ns, name), " already exists"));
  }
  Entry e;
  e.id = next_id_++;
  e.doc.name = name;
  e.doc.namespace_ = ns;
  e.error = std::move(error);
  e.persisted = persisted;
  policies_.insert_or_assign(std::move(key), std::move(e));
  return absl::OkStatus();
}

absl::Status PolicyManager::Delete(const std::string& name, const std::string& ns) {
  std::unique_ptr<LoadedPolicy> doomed;
  {
    absl::MutexLock lock(&mu_);
    auto it = policies_.find({ns, name});
    if (it == policies_.end()) return absl::NotFoundError(absl::StrCat(Describe(ns, name), " not found"));
    // One still loading is dropped here; its add unloads it when it ends.
    doomed = std::move(it->second.loaded);
    // Forgotten in the state dir too (a policy being added through the
    // API is not recorded yet: its add finds it deleted and records nothing).
    if (it->second.persisted && persistence_ != nullptr) {
      absl::Status st = persistence_->Remove(ns, name);
      if (!st.ok()) {
        LOG(ERROR) << "deleting " << Describe(ns, name) << " from the state directory: " << st;
        it->second.loaded = std::move(doomed);
        return absl::Status(st.code(), absl::StrCat("deleting ", Describe(ns, name),
                                                    " from the state directory: ", st.message()));
      }
    }
    policies_.erase(it);
  }
  doomed.reset();  // unloads it (RCU waits) without holding the lock
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
  if (e.loading) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(ns, name), " is still loading"));
  }
  if (e.loaded == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(ns, name), " failed to load (", e.error,
                                                      "): delete it or add it again"));
  }
  const bool was_enabled = e.enabled;
  const PolicyMode was_mode = e.mode;
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
  if (e.enabled == was_enabled && e.mode == was_mode) return absl::OkStatus();
  // The change counts only once recorded: otherwise it is undone (a restart
  // would bring back the recorded state).
  absl::Status st = SaveState(e);
  if (!st.ok()) {
    if (e.mode != was_mode && e.loaded->SetMode(was_mode).ok()) e.mode = was_mode;
    if (e.enabled != was_enabled && e.loaded->SetEnabled(was_enabled).ok()) e.enabled = was_enabled;
  }
  return st;
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
    if (e.loading) {
      st.set_state(tetragon::TP_STATE_LOADING);  // as Tetragon lists one being loaded
      out.push_back(std::move(st));
      continue;
    }
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

size_t PolicyManager::loading() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [key, e] : policies_) n += e.loading;
  return n;
}

size_t PolicyManager::size() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [key, e] : policies_) n += e.loaded != nullptr;
  return n;
}

}  // namespace tgd
