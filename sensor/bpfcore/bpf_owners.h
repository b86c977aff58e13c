// RAII owners for libbpf objects: links, skeletons, ring buffers; and the
// routing of libbpf's diagnostics into the process log.
#ifndef TGDISPATCH_SENSOR_BPFCORE_BPF_OWNERS_H_
#define TGDISPATCH_SENSOR_BPFCORE_BPF_OWNERS_H_

#include <bpf/libbpf.h>

#include <memory>

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
void InstallLibbpfLogging();

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BPFCORE_BPF_OWNERS_H_
