// PerfMmapReader (see perf_mmap_reader.h).
#include "sensor/loaderevents/perf_mmap_reader.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tgd {
namespace {

absl::Status ErrnoError(int err, absl::string_view what) {
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  switch (err) {
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EINVAL:
    case ENOENT:
    case EOPNOTSUPP:
      return absl::FailedPreconditionError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// PERF_RECORD_MMAP2, as the kernel writes it (include/uapi/linux/perf_event.h),
// followed by the NUL-padded file name and, with sample_id_all and
// PERF_SAMPLE_TIME, the record's time (its last 8 bytes).
struct Mmap2Fixed {
  perf_event_header header;
  uint32_t pid, tid;
  uint64_t addr, len, pgoff;
  uint8_t build_id_size;  // with PERF_RECORD_MISC_MMAP_BUILD_ID (else maj/min/ino)
  uint8_t reserved1;
  uint16_t reserved2;
  uint8_t build_id[20];
  uint32_t prot, flags;
};
static_assert(sizeof(Mmap2Fixed) == 72, "PERF_RECORD_MMAP2 layout");

#ifndef PERF_RECORD_MISC_MMAP_BUILD_ID
#define PERF_RECORD_MISC_MMAP_BUILD_ID (1 << 14)
#endif

}  // namespace

MappedRegion::~MappedRegion() {
  if (addr_ != nullptr) munmap(addr_, len_);
}

MappedRegion& MappedRegion::operator=(MappedRegion&& o) noexcept {
  if (this != &o) {
    if (addr_ != nullptr) munmap(addr_, len_);
    addr_ = o.addr_;
    len_ = o.len_;
    o.addr_ = nullptr;
  }
  return *this;
}

absl::StatusOr<std::unique_ptr<PerfMmapReader>> PerfMmapReader::Create(Handler handler, PerfMmapReaderConfig config,
                                                                       std::function<void()> tick) {
  if (config.pages == 0 || (config.pages & (config.pages - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("pages ", config.pages, " is not a power of two"));
  }
  std::unique_ptr<PerfMmapReader> r(new PerfMmapReader(std::move(handler), config, std::move(tick)));
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_DUMMY;  // counts nothing: only its side-band records
  attr.mmap = 1;                      // executable mappings (not data ones)
  attr.mmap2 = 1;
  attr.build_id = 1;  // MMAP2 carries the build id instead of the inode
  attr.sample_id_all = 1;
  attr.sample_type = PERF_SAMPLE_TIME;
  attr.use_clockid = 1;
  attr.clockid = CLOCK_MONOTONIC;  // the clock of every other event's ktime
  attr.watermark = 1;
  attr.wakeup_watermark = 1;  // wake the reader for any record
  const long page = sysconf(_SC_PAGESIZE);
  const size_t len = static_cast<size_t>(page) * (1 + config.pages);
  const long ncpu = sysconf(_SC_NPROCESSORS_CONF);
  for (long cpu = 0; cpu < ncpu; ++cpu) {
    int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, static_cast<int>(cpu), -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // an offline CPU
      return ErrnoError(errno, absl::StrCat("perf_event_open (software dummy, mmap2, build_id) on CPU ", cpu));
    }
    Cpu c;
    c.fd.Reset(fd);
    void* ring = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) return ErrnoError(errno, absl::StrCat("mmap of the perf ring buffer of CPU ", cpu));
    c.ring = MappedRegion(ring, len);
    r->cpus_.push_back(std::move(c));
  }
  if (r->cpus_.empty()) return absl::FailedPreconditionError("perf_event_open: no online CPU");
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return ErrnoError(errno, "eventfd");
  r->stop_fd_.Reset(efd);
  r->thread_ = std::thread([p = r.get()] { p->Run(); });
  return r;
}

PerfMmapReader::~PerfMmapReader() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(stop_fd_.get(), &one, sizeof(one)) != sizeof(one)) {
      // An eventfd write fails only on overflow: the reader is stopping anyway.
    }
    thread_.join();
  }
}

void PerfMmapReader::Run() {
  std::vector<pollfd> fds;
  for (const Cpu& c : cpus_) fds.push_back({c.fd.get(), POLLIN, 0});
  fds.push_back({stop_fd_.get(), POLLIN, 0});
  for (;;) {
    int n = poll(fds.data(), fds.size(), config_.poll_ms);
    if (n < 0 && errno != EINTR) return;
    if (fds.back().revents & POLLIN) return;
    for (Cpu& c : cpus_) Drain(c);
    if (tick_) tick_();
  }
}

void PerfMmapReader::Drain(Cpu& cpu) {
  auto* meta = static_cast<perf_event_mmap_page*>(cpu.ring.get());
  const uint64_t size = meta->data_size;
  auto* data = static_cast<const uint8_t*>(cpu.ring.get()) + meta->data_offset;
  uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
  uint64_t tail = meta->data_tail;
  std::vector<uint8_t> rec;
  while (tail < head) {
    perf_event_header h;
    const uint64_t off = tail % size;
    std::memcpy(&h, data + off, sizeof(h));  // records are 8-byte aligned: a header never wraps
    if (h.size < sizeof(h) || h.size > head - tail) break;
    rec.resize(h.size);
    const uint64_t first = std::min<uint64_t>(h.size, size - off);
    std::memcpy(rec.data(), data + off, first);
    if (first < h.size) std::memcpy(rec.data() + first, data, h.size - first);
    tail += h.size;
    if (h.type == PERF_RECORD_LOST && h.size >= sizeof(h) + 16) {
      uint64_t lost = 0;
      std::memcpy(&lost, rec.data() + sizeof(h) + 8, sizeof(lost));
      lost_.fetch_add(lost, std::memory_order_relaxed);
      continue;
    }
    if (h.type != PERF_RECORD_MMAP2 || h.size < sizeof(Mmap2Fixed) + 8) continue;
    Mmap2Fixed m;
    std::memcpy(&m, rec.data(), sizeof(m));
    MmapRecord out;
    out.pid = m.pid;
    out.tid = m.tid;
    out.prot = m.prot;
    std::memcpy(&out.ktime, rec.data() + h.size - 8, sizeof(out.ktime));
    const char* name = reinterpret_cast<const char*>(rec.data() + sizeof(Mmap2Fixed));
    out.path.assign(name, strnlen(name, h.size - 8 - sizeof(Mmap2Fixed)));
    if ((h.misc & PERF_RECORD_MISC_MMAP_BUILD_ID) && m.build_id_size <= sizeof(m.build_id)) {
      out.build_id.assign(reinterpret_cast<const char*>(m.build_id), m.build_id_size);
    }
    records_.fetch_add(1, std::memory_order_relaxed);
    handler_(out);
  }
  __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
}

}  // namespace tgd
