// SlotPool, GracePeriod and Reclaimer: the dispatch datapath's slots and
// their grace-period-deferred reuse (slot_pool.h).
#include "sensor/loader/slot_pool.h"

#include <bpf/bpf.h>
#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sensor/base/errno_status.h"
#include "sensor/loader/dispatch_backend_internal.h"

namespace tgd {

// ---------------------------------------------------------------- GracePeriod

absl::StatusOr<GracePeriod> GracePeriod::Create() {
  GracePeriod g;
  int inner =
      bpf_map_create(BPF_MAP_TYPE_ARRAY, "tgd_gp_inner", 4, 4, 1, nullptr);
  if (inner < 0) return ErrnoStatus(errno, "bpf_map_create(tgd_gp_inner)");
  g.inner_.Reset(inner);
  LIBBPF_OPTS(bpf_map_create_opts, opts,
              .inner_map_fd = static_cast<__u32>(inner));
  int outer =
      bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "tgd_gp", 4, 4, 1, &opts);
  if (outer < 0) return ErrnoStatus(errno, "bpf_map_create(tgd_gp)");
  g.outer_.Reset(outer);
  return g;
}

absl::Status GracePeriod::Wait() const {
  uint32_t zero = 0;
  int inner = inner_.get();
  if (bpf_map_update_elem(outer_.get(), &zero, &inner, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "waiting for a grace period (tgd_gp)");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- SlotPool

SlotPool::SlotPool(std::string name, int outer_fd, uint32_t value_size,
                   uint32_t chunk_shift, uint32_t max_chunks)
    : name_(std::move(name)),
      outer_fd_(outer_fd),
      value_size_(value_size),
      chunk_shift_(chunk_shift),
      max_chunks_(max_chunks) {}

absl::Status SlotPool::AddChunk() {
  uint32_t index = 0;
  while (index < chunk_fds_.size() &&
         (chunk_fds_[index].valid() || removing_[index]))
    ++index;
  if (index >= max_chunks_) {
    return absl::ResourceExhaustedError(
        absl::StrCat(name_, ": all ", max_chunks_, " chunks of ", chunk_slots(),
                     " slots are in use"));
  }
  int fd =
      bpf_map_create(BPF_MAP_TYPE_ARRAY, absl::StrCat(name_, "_chunk").c_str(),
                     sizeof(uint32_t), value_size_, chunk_slots(), nullptr);
  if (fd < 0)
    return ErrnoStatus(errno,
                       absl::StrCat("bpf_map_create(", name_, " chunk)"));
  FileDescriptor owned(fd);
  // The one map-in-map write: programs see the chunk from here on.
  if (bpf_map_update_elem(outer_fd_, &index, &fd, BPF_ANY) != 0) {
    return ErrnoStatus(errno, absl::StrCat("adding a chunk to ", name_));
  }
  if (chunk_bytes_ == 0) chunk_bytes_ = dispatch_internal::FdMemlock(fd);
  if (chunk_fds_.size() <= index) {
    chunk_fds_.resize(index + 1);
    used_in_chunk_.resize(index + 1, 0);
    removing_.resize(index + 1, false);
  }
  chunk_fds_[index] = std::move(owned);
  used_in_chunk_[index] = 0;
  // Lowest slots last, so they are taken first.
  for (uint32_t i = chunk_slots(); i-- > 0;)
    free_.push_back((index << chunk_shift_) | i);
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> SlotPool::Allocate() {
  absl::MutexLock l(&mu_);
  if (free_.empty()) {
    absl::Status grown = AddChunk();
    if (!grown.ok() && !retired_.empty() && reclaimer_ != nullptr) {
      // At the maximum: reuse what was retired, after a grace period here.
      std::vector<uint32_t> batch = std::move(retired_);
      retired_.clear();
      absl::Status gp = reclaimer_->WaitGracePeriod();
      if (!gp.ok()) {
        retired_.insert(retired_.end(), batch.begin(), batch.end());
        return gp;
      }
      for (uint32_t s : batch) {
        free_.push_back(s);
        --used_in_chunk_[s >> chunk_shift_];
      }
    } else if (!grown.ok()) {
      return grown;
    }
  }
  uint32_t slot = free_.back();
  free_.pop_back();
  ++used_in_chunk_[slot >> chunk_shift_];
  // Running low: the reclaimer adds a chunk ahead (lock order pool ->
  // reclaimer; the reclaimer thread never holds its lock while taking ours).
  if (free_.size() < chunk_slots() / 4 && reclaimer_ != nullptr) reclaimer_->Kick();
  return slot;
}

absl::Status SlotPool::Write(uint32_t slot, const void* value) {
  int fd;
  {
    absl::MutexLock l(&mu_);
    uint32_t chunk = slot >> chunk_shift_;
    if (chunk >= chunk_fds_.size() || !chunk_fds_[chunk].valid()) {
      return absl::InternalError(
          absl::StrCat(name_, ": slot ", slot, " has no chunk"));
    }
    fd = chunk_fds_[chunk].get();
  }
  uint32_t index = slot & (chunk_slots() - 1);
  if (bpf_map_update_elem(fd, &index, value, BPF_ANY) != 0) {
    return ErrnoStatus(errno, absl::StrCat("writing a ", name_, " slot"));
  }
  return absl::OkStatus();
}

uint32_t SlotPool::NextSeq() {
  absl::MutexLock l(&mu_);
  if (++seq_ == 0) ++seq_;
  return seq_;
}

void SlotPool::Unallocate(uint32_t slot) {
  absl::MutexLock l(&mu_);
  free_.push_back(slot);
  --used_in_chunk_[slot >> chunk_shift_];
}

void SlotPool::Retire(uint32_t slot) {
  {
    absl::MutexLock l(&mu_);
    retired_.push_back(slot);
  }
  if (reclaimer_ != nullptr) reclaimer_->Kick();
}

std::vector<uint32_t> SlotPool::TakeRetired() {
  absl::MutexLock l(&mu_);
  std::vector<uint32_t> out = std::move(retired_);
  retired_.clear();
  return out;
}

void SlotPool::Release(const std::vector<uint32_t>& slots) {
  absl::MutexLock l(&mu_);
  for (uint32_t s : slots) {
    free_.push_back(s);
    --used_in_chunk_[s >> chunk_shift_];
  }
}

bool SlotPool::GrowAhead() {
  uint32_t index = 0;
  {
    absl::MutexLock l(&mu_);
    if (free_.size() >= chunk_slots() / 4) return false;
    while (index < chunk_fds_.size() && (chunk_fds_[index].valid() || removing_[index])) ++index;
    if (index >= max_chunks_) return false;
    if (chunk_fds_.size() <= index) {
      chunk_fds_.resize(index + 1);
      used_in_chunk_.resize(index + 1, 0);
      removing_.resize(index + 1, false);
    }
    removing_[index] = true;  // reserved while the map-in-map write waits
  }
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, absl::StrCat(name_, "_chunk").c_str(), sizeof(uint32_t), value_size_,
                          chunk_slots(), nullptr);
  FileDescriptor owned(fd);
  bool ok = fd >= 0 && bpf_map_update_elem(outer_fd_, &index, &fd, BPF_ANY) == 0;
  if (!ok) LOG(WARNING) << name_ << ": adding a chunk ahead: " << strerror(errno);
  absl::MutexLock l(&mu_);
  removing_[index] = false;
  if (!ok) return false;
  chunk_fds_[index] = std::move(owned);
  used_in_chunk_[index] = 0;
  for (uint32_t i = chunk_slots(); i-- > 0;) free_.push_back((index << chunk_shift_) | i);
  return true;
}

int SlotPool::DetachEmptyChunk(uint32_t* index) {
  absl::MutexLock l(&mu_);
  // Keep the first chunk (no grace period on the first add) and keep a
  // spare: trim only when the other chunks have half a chunk free.
  for (uint32_t c = static_cast<uint32_t>(chunk_fds_.size()); c-- > 1;) {
    if (!chunk_fds_[c].valid() || used_in_chunk_[c] != 0) continue;
    size_t free_elsewhere = free_.size() - chunk_slots();
    if (free_elsewhere < chunk_slots() / 2) return -1;
    free_.erase(
        std::remove_if(free_.begin(), free_.end(),
                       [&](uint32_t s) { return (s >> chunk_shift_) == c; }),
        free_.end());
    *index = c;
    removing_[c] = true;  // until the caller deleted it from the outer map
    return chunk_fds_[c].Release();
  }
  return -1;
}

size_t SlotPool::used() const {
  absl::MutexLock l(&mu_);
  size_t n = 0;
  for (uint32_t u : used_in_chunk_) n += u;
  return n;
}

size_t SlotPool::chunks() const {
  absl::MutexLock l(&mu_);
  return std::count_if(chunk_fds_.begin(), chunk_fds_.end(),
                       [](const FileDescriptor& f) { return f.valid(); });
}

// ---------------------------------------------------------------- Reclaimer

Reclaimer::Reclaimer(GracePeriod gp, std::vector<SlotPool*> pools)
    : gp_(std::move(gp)), pools_(std::move(pools)) {
  for (SlotPool* p : pools_) p->reclaimer_ = this;
  thread_ = std::thread([this] { Loop(); });
}

Reclaimer::~Reclaimer() {
  Drain();
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  thread_.join();
  for (SlotPool* p : pools_) p->reclaimer_ = nullptr;
}

void Reclaimer::Defer(std::function<void()> fn) {
  absl::MutexLock l(&mu_);
  deferred_.push_back(std::move(fn));
  ++requested_;
}

void Reclaimer::Kick() {
  absl::MutexLock l(&mu_);
  ++requested_;
}

void Reclaimer::Drain() {
  absl::MutexLock l(&mu_);
  const uint64_t target = requested_;
  auto done = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return done_ >= target || stop_;
  };
  mu_.Await(absl::Condition(&done));
}

uint64_t Reclaimer::grace_periods() const {
  absl::MutexLock l(&mu_);
  return grace_periods_;
}

void Reclaimer::Loop() {
  for (;;) {
    uint64_t target;
    std::vector<std::function<void()>> fns;
    {
      absl::MutexLock l(&mu_);
      auto work = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_ || requested_ > done_;
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&work), kTrimIdle)) {
        // Idle: give empty chunks back to the kernel (one grace period
        // each, here, off every add and delete path).
        mu_.Unlock();
        for (SlotPool* p : pools_) {
          uint32_t index = 0;
          for (int fd; (fd = p->DetachEmptyChunk(&index)) >= 0;) {
            if (bpf_map_delete_elem(p->outer_fd_, &index) != 0) {
              LOG(WARNING) << p->name_ << ": removing chunk " << index << ": "
                           << strerror(errno);
            }
            FileDescriptor closed(fd);
            absl::MutexLock pl(&p->mu_);
            p->removing_[index] = false;
          }
        }
        mu_.Lock();
        continue;
      }
      if (stop_ && requested_ == done_) return;
      target = requested_;
      fns = std::move(deferred_);
      deferred_.clear();
    }
    // Everything retired before the grace period starts is unreachable
    // once it ends.
    std::vector<std::vector<uint32_t>> batches;
    for (SlotPool* p : pools_) batches.push_back(p->TakeRetired());
    absl::Status s = gp_.Wait();
    if (!s.ok()) {
      LOG(ERROR) << "slot reclaimer: " << s << " (retrying)";
      for (size_t i = 0; i < pools_.size(); ++i) {
        absl::MutexLock pl(&pools_[i]->mu_);
        pools_[i]->retired_.insert(pools_[i]->retired_.end(),
                                   batches[i].begin(), batches[i].end());
      }
      absl::MutexLock l(&mu_);
      deferred_.insert(deferred_.begin(), std::make_move_iterator(fns.begin()),
                       std::make_move_iterator(fns.end()));
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
      continue;
    }
    for (size_t i = 0; i < pools_.size(); ++i) pools_[i]->Release(batches[i]);
    for (auto& fn : fns) fn();
    // A pool running low gets its next chunk here, not on an add.
    for (SlotPool* p : pools_) {
      while (p->GrowAhead()) {
      }
    }
    absl::MutexLock l(&mu_);
    ++grace_periods_;
    done_ = std::max(done_, target);
  }
}

}  // namespace tgd
