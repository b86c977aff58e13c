// Reassembly of the buffers that do not fit in a policy event record: the
// datapath sends them as chunk records (TGD_EV_DATA, dispatch_abi.h "Buffers
// beyond the event record") ahead of their event; this joins them per
// (data id, argument) and hands them to the event's decoding.
//
// Bounded against a lossy or hostile stream: a cap on the bytes and on the
// entries held (buffers being joined and buffers of events waiting to be
// sent); the oldest entry goes first (as Tetragon's data cache, an LRU of
// 1,024 entries), and a buffer whose chunks do not follow one another, or
// whose event says other than what arrived, is dropped. A dropped buffer's
// argument is left out of its event, as Tetragon leaves out a data event it
// cannot complete.
#ifndef TGDISPATCH_SENSOR_LOADER_DATA_CHUNKS_H_
#define TGDISPATCH_SENSOR_LOADER_DATA_CHUNKS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "bpf/dispatch/dispatch_abi.h"

namespace tgd {

// A buffer argument's bytes beyond the event record, as reassembly found them.
struct BufferData {
  enum Kind {
    kInline,     // the record holds the whole buffer (or it was not sent in chunks)
    kComplete,   // `bytes` holds what the datapath sent
    kLost,       // chunks lost or out of order: the argument is left out (as Tetragon)
    kPageFault,  // a read faulted: Tetragon's CharBufErrorPageFault
  };
  Kind kind = kInline;
  std::string bytes;
};

using EventBuffers = std::array<BufferData, TGD_MAX_ARGS>;

class DataChunks {
 public:
  struct Limits {
    size_t max_bytes = 64u << 20;  // bytes held, joined and waiting together
    size_t max_entries = 1024;     // Tetragon's data-cache-size default
  };
  struct Stats {
    uint64_t chunks = 0;     // chunk records taken
    uint64_t malformed = 0;  // records too short, naming no argument or longer than a chunk
    uint64_t evicted = 0;    // entries dropped to stay within the limits
    uint64_t lost = 0;       // buffer arguments left out of their event
  };

  DataChunks() : DataChunks(Limits{}) {}
  explicit DataChunks(Limits limits) : limits_(limits) {}

  // One TGD_EV_DATA record as read from the ring buffer (`size` bytes).
  void AddChunk(const void* data, size_t size);

  // The event's buffers (its chunks then leave the joining side): kept for
  // Get until Release. An event without data (data_id 0) keeps nothing.
  void Finish(const tgd_policy_event& ev);

  // The buffers of a finished event (all kInline when unknown or evicted:
  // an evicted buffer's argument then reads kLost).
  EventBuffers Get(const tgd_policy_event& ev) const;

  // Forgets a finished event's buffers (after it was sent).
  void Release(uint64_t data_id);

  Stats stats() const;
  size_t entries() const;
  size_t bytes() const;

 private:
  struct Entry {
    std::array<std::string, TGD_MAX_ARGS> parts;  // joining: the bytes so far per argument
    std::array<bool, TGD_MAX_ARGS> broken{};      // a chunk did not follow the previous one
    EventBuffers done;                            // finished: what Get returns
    bool finished = false;
    size_t size = 0;
  };
  void EvictLocked(size_t incoming) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropLocked(std::map<uint64_t, Entry>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Limits limits_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<uint64_t> order_ ABSL_GUARDED_BY(mu_);  // oldest first (ids of dropped entries are skipped)
  std::map<uint64_t, bool> evicted_ ABSL_GUARDED_BY(mu_);  // recently evicted ids (bounded as entries)
  std::deque<uint64_t> evicted_order_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADER_DATA_CHUNKS_H_
