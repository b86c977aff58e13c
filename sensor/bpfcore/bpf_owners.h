// RAII owners for libbpf objects: links, skeletons, ring buffers; and the
// routing of libbpf's diagnostics into the process log.
#ifndef TGDISPATCH_SENSOR_BPFCORE_BPF_OWNERS_H_
#define TGDISPATCH_SENSOR_BPFCORE_BPF_OWNERS_H_

#include <bpf/libbpf.h>

#include <memory>
#include <string>
#include <vector>

namespace tgd {

struct BpfLinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
// Detaches (and frees) the link on destruction.
using BpfLink = std::unique_ptr<bpf_link, BpfLinkDeleter>;

struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};
using RingBuffer = std::unique_ptr<ring_buffer, RingBufferDeleter>;

struct BpfObjectDeleter {
  void operator()(bpf_object* obj) const { bpf_object__close(obj); }
};
using BpfObject = std::unique_ptr<bpf_object, BpfObjectDeleter>;

// Owner of a bpftool-generated skeleton `T` (destroyed with T::destroy).
template <typename T>
struct SkeletonDeleter {
  void operator()(T* skel) const { T::destroy(skel); }
};
template <typename T>
using Skeleton = std::unique_ptr<T, SkeletonDeleter<T>>;

// Routes libbpf's print callback into glog (warnings as WARNING, info and
// debug at VLOG 1/2). Idempotent; call once before the first libbpf call.
// libbpf's "try raising 'ulimit -l'" hint after an EPERM is dropped (VLOG 1):
// memory is accounted to the cgroup since kernel 5.11, and the EPERMs seen
// here come from the kernel refusing the program, not from a limit.
void InstallLibbpfLogging();

// While alive, libbpf's warnings on the constructing thread are collected
// (and logged at VLOG 1 only) instead of logged as WARNING: for probes whose
// failures are expected and reported by the caller. Not nestable.
class LibbpfWarningCapture {
 public:
  LibbpfWarningCapture();
  ~LibbpfWarningCapture();
  LibbpfWarningCapture(const LibbpfWarningCapture&) = delete;
  LibbpfWarningCapture& operator=(const LibbpfWarningCapture&) = delete;

  // The warnings so far, one per line, without the "libbpf: " prefix.
  const std::vector<std::string>& lines() const { return lines_; }
  void Clear() { lines_.clear(); }

 private:
  friend struct LibbpfCaptureAccess;
  std::vector<std::string> lines_;
};

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BPFCORE_BPF_OWNERS_H_
