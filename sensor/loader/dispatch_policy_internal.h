// DispatchBackend::Policy: the LoadedPolicy the dispatch loader hands out
// (its datapath entries, its policy filter entry, its selectors' matchWorkloads
// filters, the loader sensor it holds).
// Private to dispatch_backend.cc, which creates it.
#ifndef TGDISPATCH_SENSOR_LOADER_DISPATCH_POLICY_INTERNAL_H_
#define TGDISPATCH_SENSOR_LOADER_DISPATCH_POLICY_INTERNAL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <glog/logging.h>
#include "sensor/base/status_macros.h"
#include "sensor/loader/dispatch_backend.h"

namespace tgd {

class DispatchBackend::Policy : public LoadedPolicy {
 public:
  Policy(DispatchBackend* b, std::vector<uint32_t> ids, uint32_t filter_id, bool enabled, PolicyMode mode,
         std::vector<std::string> sensors, std::unique_ptr<SelectorWorkloads> sel_workloads)
      : b_(b), ids_(std::move(ids)), filter_id_(filter_id), enabled_(enabled), mode_(mode),
        sensors_(std::move(sensors)), sel_workloads_(std::move(sel_workloads)) {}
  ~Policy() override {
    loader_.reset();
    b_->RemoveEntries(ids_);
    // At shutdown our own policy filter maps go with the daemon; a Tetragon
    // agent's stay, so our entries there are removed.
    const bool del = b_->opts_.filter && (!b_->ShuttingDown() || b_->opts_.filter->tetragon_mode());
    if (sel_workloads_ && !del) sel_workloads_->KeepInFilter();
    sel_workloads_.reset();
    if (filter_id_ != 0 && del) {
      absl::Status s = b_->opts_.filter->DelPolicy(filter_id_);
      if (!s.ok()) LOG(WARNING) << "policy filter: deleting policy " << filter_id_ << ": " << s;
    }
  }
  absl::Status SetEnabled(bool enabled) override {
    TGD_RETURN_IF_ERROR(b_->SetEntryFlags(ids_, Flags(enabled, mode_)));
    if (wants_loader_) {  // loader: true runs while the policy is enabled
      if (!enabled) loader_.reset();
      if (enabled && !loader_) {
        TGD_ASSIGN_OR_RETURN(loader_, b_->AcquireLoaderSensor());
      }
    }
    enabled_ = enabled;
    return absl::OkStatus();
  }
  absl::Status SetMode(PolicyMode mode) override {
    TGD_RETURN_IF_ERROR(b_->SetEntryFlags(ids_, Flags(enabled_, mode)));
    mode_ = mode;
    return absl::OkStatus();
  }
  uint64_t KernelMemoryBytes() const override { return b_->EntryMemory(ids_); }
  std::vector<std::string> Sensors() const override { return sensors_; }
  PolicyCounters Counters() const override { return b_->EntryCounters(ids_); }

  // loader: true (the sensor is held while the policy is enabled).
  void SetLoader(std::shared_ptr<LoaderSensor> l) {
    wants_loader_ = true;
    loader_ = std::move(l);
  }

  static uint32_t Flags(bool enabled, PolicyMode mode) {
    return (enabled ? TGD_POLICY_ENABLED : 0) | (mode == PolicyMode::kMonitor ? TGD_POLICY_MONITOR : 0);
  }

 private:
  DispatchBackend* const b_;
  const std::vector<uint32_t> ids_;
  const uint32_t filter_id_;
  bool enabled_;
  PolicyMode mode_;
  const std::vector<std::string> sensors_;
  std::unique_ptr<SelectorWorkloads> sel_workloads_;  // matchWorkloads filters
  bool wants_loader_ = false;
  std::shared_ptr<LoaderSensor> loader_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_DISPATCH_POLICY_INTERNAL_H_
