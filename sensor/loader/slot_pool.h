// Update path of the dispatch datapath without grace periods: pools of array
// slots that hold configs and run lists (dispatch_abi.h "Slots"), and the
// background reclaimer that returns replaced slots to their pool, and runs
// deferred deletes, only after an RCU grace period, one grace period for
// every pending free of a batch.
//
// A writer (under the backend's lock) takes a free slot (Allocate), writes
// it (Write), publishes a reference to it in a hash (one bpf_map_update_elem
// of a u64: no map-in-map write), then retires the slot it replaced
// (Retire). Programs that still read the retired slot run under
// rcu_read_lock; the reclaimer waits for synchronize_rcu (through one dummy
// map-in-map update) before the slot can be written again.
#ifndef TGDISPATCH_SENSOR_LOADER_SLOT_POOL_H_
#define TGDISPATCH_SENSOR_LOADER_SLOT_POOL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {

// Waits for an RCU grace period from user space: an update of a private
// one-element ARRAY_OF_MAPS, after which the kernel calls synchronize_rcu
// (maybe_wait_bpf_programs) before returning.
class GracePeriod {
 public:
  static absl::StatusOr<GracePeriod> Create();
  absl::Status Wait() const;

 private:
  FileDescriptor inner_, outer_;
};

class Reclaimer;

// The slots of one kind (configs or run lists): chunks of 2^chunk_shift
// array slots, inner maps of `outer_fd` (an ARRAY_OF_MAPS with max_chunks
// entries), added when no slot is free. Thread-safe.
class SlotPool {
 public:
  SlotPool(std::string name, int outer_fd, uint32_t value_size,
           uint32_t chunk_shift, uint32_t max_chunks);
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;

  // A free slot: never referenced by a published reference since a grace
  // period. Adds a chunk (one map-in-map update) when none is free; when the
  // pool is at max_chunks, waits for a grace period to reuse retired slots.
  // RESOURCE_EXHAUSTED when every slot is in use.
  absl::StatusOr<uint32_t> Allocate();
  // Writes `value` (value_size bytes) into an allocated slot.
  absl::Status Write(uint32_t slot, const void* value);
  // A sequence number for the next slot written: unique, never 0.
  uint32_t NextSeq();
  // An allocated slot that was never published: free at once.
  void Unallocate(uint32_t slot);
  // A slot whose reference was switched away or deleted: free after the
  // next grace period (through `reclaimer`, which must outlive the call).
  void Retire(uint32_t slot);

  // Slots in use (allocated or retired), chunks, bytes of one chunk.
  size_t used() const;
  size_t chunks() const;
  uint64_t chunk_bytes() const { return chunk_bytes_; }
  uint32_t chunk_slots() const { return 1u << chunk_shift_; }

 private:
  friend class Reclaimer;
  absl::Status AddChunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reclaimer side: the retired slots (taken before a grace period starts),
  // then given back after it ended.
  std::vector<uint32_t> TakeRetired();
  void Release(const std::vector<uint32_t>& slots);
  // Removes one chunk whose slots are all free (not the first): returns its
  // fd (to be deleted from the outer map by the caller), or -1.
  int DetachEmptyChunk(uint32_t* index);
  // Adds a chunk when fewer than a quarter chunk of slots are free, without
  // holding the pool's lock during the map-in-map write. Whether it added one.
  bool GrowAhead();

  const std::string name_;
  const int outer_fd_;
  const uint32_t value_size_;
  const uint32_t chunk_shift_;
  const uint32_t max_chunks_;
  uint64_t chunk_bytes_ = 0;
  Reclaimer* reclaimer_ = nullptr;  // set by the Reclaimer

  mutable absl::Mutex mu_;
  std::vector<FileDescriptor> chunk_fds_
      ABSL_GUARDED_BY(mu_);  // by index; empty fd: none
  std::vector<uint32_t> used_in_chunk_
      ABSL_GUARDED_BY(mu_);  // allocated + retired
  std::vector<bool> removing_
      ABSL_GUARDED_BY(mu_);  // being removed by the reclaimer
  std::vector<uint32_t> free_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> retired_ ABSL_GUARDED_BY(mu_);
  uint32_t seq_ ABSL_GUARDED_BY(mu_) = 0;
};

// The background reclaimer shared by the pools of one backend: waits for
// one grace period per batch of retired slots and deferred deletes, then
// frees them; removes empty chunks when idle.
class Reclaimer {
 public:
  Reclaimer(GracePeriod gp, std::vector<SlotPool*> pools);
  ~Reclaimer();  // reclaims what is pending, then stops
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

  // Runs `fn` (on the reclaimer thread) after a grace period that starts
  // after this call: for deletes that programs still reading must not see.
  void Defer(std::function<void()> fn);
  // Wakes the thread (a slot was retired).
  void Kick();
  // Returns once everything retired or deferred before the call is done.
  void Drain();
  // A grace period waited for on the caller's thread (pool at its maximum).
  absl::Status WaitGracePeriod() const { return gp_.Wait(); }
  uint64_t grace_periods() const;

 private:
  void Loop();

  const GracePeriod gp_;
  const std::vector<SlotPool*> pools_;
  static constexpr absl::Duration kTrimIdle = absl::Milliseconds(200);

  mutable absl::Mutex mu_;
  std::vector<std::function<void()>> deferred_ ABSL_GUARDED_BY(mu_);
  uint64_t requested_ ABSL_GUARDED_BY(mu_) = 0;  // kicks
  uint64_t done_ ABSL_GUARDED_BY(mu_) = 0;       // kicks served
  uint64_t grace_periods_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_SLOT_POOL_H_
