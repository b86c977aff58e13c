// FilterMaps' held-back outer-map writes (bulk and deferred modes): where a
// policy's or cgroup row's inner map is while its outer write waits, and the
// batched writes that apply them (one grace period per batch, not per write).
#include <bpf/bpf.h>
#include <glog/logging.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sensor/base/status_macros.h"
#include "sensor/policyfilter/filter_maps.h"

namespace tgd {
namespace {

double MonotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Writes `entries` (key -> inner map fd, or an invalid fd: delete) into one
// outer map: one batch update and one batch delete, each element that a
// batch did not take written on its own. Counts the writes in *writes.
template <typename K>
absl::Status ApplyOuter(int outer_fd, const std::map<K, FileDescriptor>& entries, const char* name,
                        std::atomic<uint64_t>* writes) {
  std::vector<K> put_keys, del_keys;
  std::vector<uint32_t> put_fds;
  for (const auto& [k, fd] : entries) {
    if (fd.valid()) {
      put_keys.push_back(k);
      put_fds.push_back(static_cast<uint32_t>(fd.get()));
    } else {
      del_keys.push_back(k);
    }
  }
  absl::Status first;
  auto fail = [&](absl::Status st) {
    LOG(ERROR) << "policy filter maps: " << st << " (the in-memory filter keeps it)";
    if (first.ok()) first = st;
  };
  if (!put_keys.empty()) {
    uint32_t count = put_keys.size();
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
    int rc = bpf_map_update_batch(outer_fd, put_keys.data(), put_fds.data(), &count, &opts);
    writes->fetch_add(1);
    if (rc != 0) {
      // A kernel without batch updates on this map type (count 0), or an
      // element that failed: the rest one by one.
      VLOG(1) << name << ": batch update stopped after " << count << " of " << put_keys.size() << ": "
              << strerror(errno);
      for (size_t i = std::min<size_t>(count, put_keys.size()); i < put_keys.size(); ++i) {
        writes->fetch_add(1);
        if (bpf_map_update_elem(outer_fd, &put_keys[i], &put_fds[i], BPF_ANY) != 0) {
          fail(FilterMapError(errno, absl::StrCat("insert key ", put_keys[i], " in ", name)));
        }
      }
    }
  }
  if (!del_keys.empty()) {
    uint32_t count = del_keys.size();
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_delete_batch(outer_fd, del_keys.data(), &count, &opts);
    writes->fetch_add(1);
    if (rc != 0) {
      // Stops at a key that is not there (a key added and deleted again
      // while held back): the rest one by one.
      for (size_t i = std::min<size_t>(count, del_keys.size()); i < del_keys.size(); ++i) {
        writes->fetch_add(1);
        if (bpf_map_delete_elem(outer_fd, &del_keys[i]) != 0 && errno != ENOENT) {
          fail(FilterMapError(errno, absl::StrCat("delete key ", del_keys[i], " from ", name)));
        }
      }
    }
  }
  return first;
}

}  // namespace

template <typename K>
absl::StatusOr<int> FilterMaps::InnerFd(int outer_fd, const std::map<K, FileDescriptor>& pending,
                                        const std::map<K, FileDescriptor>* inflight, K key,
                                        FileDescriptor* holder) {
  for (const std::map<K, FileDescriptor>* m : {&pending, inflight}) {
    if (m == nullptr) continue;
    auto it = m->find(key);
    if (it == m->end()) continue;
    if (!it->second.valid()) return absl::NotFoundError(absl::StrCat("key ", key, " is being deleted"));
    return it->second.get();
  }
  TGD_ASSIGN_OR_RETURN(*holder, FilterMapInnerOf(outer_fd, &key));
  return holder->get();
}

absl::StatusOr<int> FilterMaps::PolicyInnerFd(uint32_t policy_id, FileDescriptor* holder) {
  return InnerFd(policy_map_.get(), pending_policy_, inflight_ ? &inflight_->policy : nullptr, policy_id,
                 holder);
}

absl::StatusOr<int> FilterMaps::CgroupInnerFd(uint64_t cgroup_id, FileDescriptor* holder) {
  return InnerFd(cgroup_map_.get(), pending_cgroup_, inflight_ ? &inflight_->cgroup : nullptr, cgroup_id,
                 holder);
}

template <typename K>
absl::Status FilterMaps::PutInner(int outer_fd, std::map<K, FileDescriptor>* pending, K key,
                                  FileDescriptor fd, uint64_t flags, const std::string& what) {
  if (bulk()) {
    if (this->pending() == 0) pending_since_ = MonotonicSeconds();
    (*pending)[key] = std::move(fd);  // replaces one held back before (a resize, a delete)
    return absl::OkStatus();
  }
  uint32_t v = fd.get();
  int rc = bpf_map_update_elem(outer_fd, &key, &v, flags);
  outer_writes_.fetch_add(1);
  if (rc != 0) {
    int err = errno;
    if (err == EEXIST) return absl::AlreadyExistsError(absl::StrCat(what, ": the key exists already"));
    return FilterMapError(err, what);
  }
  return absl::OkStatus();
}

template absl::Status FilterMaps::PutInner<uint32_t>(int, std::map<uint32_t, FileDescriptor>*, uint32_t,
                                                     FileDescriptor, uint64_t, const std::string&);
template absl::Status FilterMaps::PutInner<uint64_t>(int, std::map<uint64_t, FileDescriptor>*, uint64_t,
                                                     FileDescriptor, uint64_t, const std::string&);

template <typename K>
absl::Status FilterMaps::DeleteOuter(int outer_fd, std::map<K, FileDescriptor>* pending, K key,
                                     const std::string& what) {
  if (bulk()) {
    if (this->pending() == 0) pending_since_ = MonotonicSeconds();
    (*pending)[key] = FileDescriptor();  // a delete; replaces an insert held back
    return absl::OkStatus();
  }
  int rc = bpf_map_delete_elem(outer_fd, &key);
  outer_writes_.fetch_add(1);
  if (rc != 0 && errno != ENOENT) return FilterMapError(errno, what);
  return absl::OkStatus();
}

template absl::Status FilterMaps::DeleteOuter<uint32_t>(int, std::map<uint32_t, FileDescriptor>*, uint32_t,
                                                        const std::string&);
template absl::Status FilterMaps::DeleteOuter<uint64_t>(int, std::map<uint64_t, FileDescriptor>*, uint64_t,
                                                        const std::string&);

absl::Status FilterMaps::MaybeFlush() {
  if (deferred_ || pending() == 0) return absl::OkStatus();
  if (pending() < kMaxPending && MonotonicSeconds() - pending_since_ < kMaxPendingAgeS) {
    return absl::OkStatus();
  }
  if (absl::Status st = Flush(); !st.ok()) {
    // The held-back entries that failed are logged by Flush; the change at
    // hand is a different one.
    LOG(ERROR) << "policy filter maps: bulk flush: " << st;
  }
  return absl::OkStatus();
}

absl::Status FilterMaps::EndBulk() {
  if (bulk_depth_ > 0) --bulk_depth_;
  if (bulk_depth_ > 0 || deferred_) return absl::OkStatus();  // deferred: the owner's thread flushes
  return Flush();
}

std::shared_ptr<const FilterMaps::Batch> FilterMaps::TakeBatch() {
  if (inflight_ || pending() == 0) return nullptr;
  auto b = std::make_shared<Batch>();
  b->policy_map_fd = policy_map_.get();
  b->cgroup_map_fd = cgroup_map_.get();
  b->policy.swap(pending_policy_);
  b->cgroup.swap(pending_cgroup_);
  inflight_ = b;
  return b;
}

absl::Status FilterMaps::ApplyBatch(const Batch& b) const {
  absl::Status st = ApplyOuter(b.policy_map_fd, b.policy, kPolicyFilterMapName, &outer_writes_);
  absl::Status st2 = ApplyOuter(b.cgroup_map_fd, b.cgroup, kPolicyFilterCgroupMapName, &outer_writes_);
  return st.ok() ? st2 : st;
}

absl::Status FilterMaps::Flush() {
  if (inflight_) return absl::FailedPreconditionError("a batch of policy filter map writes is in flight");
  std::shared_ptr<const Batch> b = TakeBatch();
  if (!b) return absl::OkStatus();
  absl::Status st = ApplyBatch(*b);
  FinishBatch();  // the outer maps hold the inner maps now; our fds close
  return st;
}

}  // namespace tgd
