// LoaderSensor (see loader_sensor.h).
#include "sensor/loaderevents/loader_sensor.h"

#include "absl/time/clock.h"

namespace tgd {
absl::StatusOr<std::unique_ptr<LoaderSensor>> LoaderSensor::Create(LoaderSensorOptions opts) {
  std::unique_ptr<LoaderSensor> s(new LoaderSensor(std::move(opts)));
  LoaderSensor* self = s.get();
  auto reader = PerfMmapReader::Create([self](const MmapRecord& r) { self->Handle(r); }, self->opts_.perf,
                                       [self] {
                                         absl::MutexLock l(&self->mu_);
                                         self->Retry(/*all=*/false);
                                       });
  if (!reader.ok()) return reader.status();
  s->reader_ = std::move(*reader);
  return s;
}

LoaderSensor::~LoaderSensor() {
  reader_.reset();  // the thread stops: nothing calls Handle any more
  absl::MutexLock l(&mu_);
  Retry(/*all=*/true);
}

LoaderSensor::Stats LoaderSensor::stats() const {
  absl::MutexLock l(&mu_);
  Stats s = stats_;
  if (reader_) {
    s.records = reader_->stats().records;
    s.lost = reader_->stats().lost;
  }
  return s;
}

tetragon::GetEventsResponse LoaderSensor::BuildEvent(const MmapRecord& rec, const ProcessCache::ForEvent& found,
                                                     const std::string& node_name, int64_t boot_wall_ns,
                                                     const std::vector<ProcessPtr>& ancestors) {
  tetragon::GetEventsResponse out;
  tetragon::ProcessLoader* l = out.mutable_process_loader();
  if (found.process) *l->mutable_process() = *found.process;
  if (found.parent) *l->mutable_parent() = *found.parent;
  l->set_path(rec.path);
  l->set_buildid(rec.build_id);
  for (const ProcessPtr& a : ancestors) *l->add_ancestors() = *a;
  out.set_node_name(node_name);
  const int64_t wall = boot_wall_ns + static_cast<int64_t>(rec.ktime);
  out.mutable_time()->set_seconds(wall / 1000000000);
  out.mutable_time()->set_nanos(static_cast<int32_t>(wall % 1000000000));
  return out;
}

bool LoaderSensor::Seen(uint32_t pid, const std::string& path) {
  auto key = std::make_pair(pid, path);
  auto it = lru_index_.find(key);
  if (it != lru_index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return true;
  }
  lru_.push_front(key);
  lru_index_[key] = lru_.begin();
  if (lru_.size() > opts_.dedup_entries) {
    lru_index_.erase(lru_.back());
    lru_.pop_back();
  }
  return false;
}

bool LoaderSensor::TryPublish(const MmapRecord& rec, bool final) {
  ProcessCache::ForEvent found;
  if (opts_.processes != nullptr) found = opts_.processes->LookupForEvent(rec.pid, rec.ktime);
  bool complete = opts_.processes == nullptr || (found.process != nullptr && !found.exec_may_follow &&
                                                 (found.parent != nullptr || found.process->parent_exec_id().empty()));
  std::vector<ProcessPtr> ancestors;
  if (opts_.ancestors && found.process != nullptr) {
    bool all = true;
    ancestors = opts_.processes->Ancestors(*found.process, found.parent.get(), &all);
    complete = complete && all;
  }
  if (!complete && !final) return false;
  if (opts_.processes != nullptr && found.process == nullptr) {
    ++stats_.no_process;  // as Tetragon: no event without the process's pid
    return true;
  }
  if (opts_.bus) opts_.bus->Publish(BuildEvent(rec, found, opts_.node_name, opts_.boot_wall_ns, ancestors));
  ++stats_.published;
  return true;
}

void LoaderSensor::Handle(const MmapRecord& rec) {
  absl::MutexLock l(&mu_);
  if (rec.build_id.empty()) {
    ++stats_.no_build_id;
    return;
  }
  if (Seen(rec.pid, rec.path)) {
    ++stats_.duplicates;
    return;
  }
  Retry(/*all=*/false);  // keeps the order of a process's events
  if (!held_.empty() || !TryPublish(rec, /*final=*/false)) {
    if (held_.size() >= opts_.max_held) {
      ++stats_.held_overflow;
      TryPublish(held_.front().second, /*final=*/true);
      held_.pop_front();
    }
    held_.emplace_back(absl::Now(), rec);
  }
}

void LoaderSensor::Retry(bool all) {
  const absl::Time now = absl::Now();
  while (!held_.empty()) {
    auto& [since, rec] = held_.front();
    const bool final = all || now - since >= opts_.hold;
    if (!TryPublish(rec, final)) break;
    held_.pop_front();
  }
}

}  // namespace tgd
