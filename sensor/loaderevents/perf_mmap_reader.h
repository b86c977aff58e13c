// PerfMmapReader: the executable mappings of every process on the node,
// with the build id the kernel read from the mapped ELF file, from one
// system-wide software dummy perf event per CPU (mmap, mmap2 and build_id
// set: PERF_RECORD_MMAP2 records carrying PERF_RECORD_MISC_MMAP_BUILD_ID).
// No BPF program: Tetragon's loader sensor reads the same records from a
// kprobe on perf_event_mmap_output, which not every kernel attaches.
//
// One reader thread polls the per-CPU ring buffers (bounded: `pages` data
// pages a CPU; a full buffer makes the kernel drop records and count them,
// reported in stats().lost) and calls the handler for each record, in the
// reader thread. The fds and the mappings are owned here and closed by the
// destructor, which stops the thread first.
#ifndef TGDISPATCH_SENSOR_LOADEREVENTS_PERF_MMAP_READER_H_
#define TGDISPATCH_SENSOR_LOADEREVENTS_PERF_MMAP_READER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "sensor/base/file_descriptor.h"

namespace tgd {

// One executable mapping.
struct MmapRecord {
  uint32_t pid = 0;  // the mapping process (tgid)
  uint32_t tid = 0;
  uint64_t ktime = 0;    // CLOCK_MONOTONIC ns of the mapping
  uint32_t prot = 0;     // PROT_* of the mapping
  std::string path;      // the mapped file, as the kernel names it (d_path)
  std::string build_id;  // raw bytes; empty when the kernel read none
};

struct PerfMmapReaderConfig {
  // Data pages of each CPU's ring buffer (a power of two).
  uint32_t pages = 16;
  // How long the reader waits for records before it checks for stop.
  int poll_ms = 100;
};

// Owns one mmap()ed region.
class MappedRegion {
 public:
  MappedRegion() = default;
  MappedRegion(void* addr, size_t len) : addr_(addr), len_(len) {}
  ~MappedRegion();
  MappedRegion(MappedRegion&& o) noexcept : addr_(o.addr_), len_(o.len_) { o.addr_ = nullptr; }
  MappedRegion& operator=(MappedRegion&& o) noexcept;
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  void* get() const { return addr_; }

 private:
  void* addr_ = nullptr;
  size_t len_ = 0;
};

class PerfMmapReader {
 public:
  using Handler = std::function<void(const MmapRecord&)>;

  struct Stats {
    uint64_t records = 0;  // MMAP2 records read
    uint64_t lost = 0;     // records the kernel dropped (full buffers)
  };

  // Opens the events on every online CPU and starts the reader thread.
  // Errors: the errno of perf_event_open (EACCES/EPERM: not privileged;
  // EINVAL: a kernel without build_id in perf_event_attr, before 5.12), or
  // of mmap.
  // `tick` (optional) runs in the reader thread after every wake-up (at
  // least every poll_ms).
  static absl::StatusOr<std::unique_ptr<PerfMmapReader>> Create(Handler handler, PerfMmapReaderConfig config = {},
                                                                std::function<void()> tick = nullptr);
  ~PerfMmapReader();

  Stats stats() const { return {records_.load(), lost_.load()}; }

 private:
  struct Cpu {
    FileDescriptor fd;
    MappedRegion ring;
  };
  PerfMmapReader(Handler handler, PerfMmapReaderConfig config, std::function<void()> tick)
      : handler_(std::move(handler)), tick_(std::move(tick)), config_(config) {}
  void Run();
  void Drain(Cpu& cpu);

  Handler handler_;
  std::function<void()> tick_;
  PerfMmapReaderConfig config_;
  std::vector<Cpu> cpus_;
  FileDescriptor stop_fd_;  // eventfd: written by the destructor
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> lost_{0};
  std::thread thread_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_LOADEREVENTS_PERF_MMAP_READER_H_
