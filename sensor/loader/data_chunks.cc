// Reassembly of data chunk records (see data_chunks.h).
#include "sensor/loader/data_chunks.h"

#include <algorithm>
#include <cstring>

namespace tgd {

void DataChunks::AddChunk(const void* data, size_t size) {
  absl::MutexLock l(&mu_);
  tgd_data_chunk_hdr h;
  if (size < sizeof(h)) {
    ++stats_.malformed;
    return;
  }
  memcpy(&h, data, sizeof(h));
  if (h.op != TGD_EV_DATA || h.arg >= TGD_MAX_ARGS || h.len > TGD_DATA_CHUNK || h.len > size - sizeof(h) ||
      h.id == 0) {
    ++stats_.malformed;
    return;
  }
  ++stats_.chunks;
  auto it = entries_.find(h.id);
  if (it == entries_.end()) {
    if (evicted_.count(h.id)) return;  // its earlier chunks are gone: the rest is useless
    EvictLocked(h.len);
    it = entries_.emplace(h.id, Entry{}).first;
    order_.push_back(h.id);
  } else if (it->second.finished) {
    return;  // a chunk after its event: not the datapath's order
  } else {
    EvictLocked(h.len);
    it = entries_.find(h.id);
    if (it == entries_.end()) return;  // evicted itself
  }
  Entry& e = it->second;
  std::string& part = e.parts[h.arg];
  if (e.broken[h.arg]) return;
  if (h.offset != part.size() || part.size() + h.len > TGD_DATA_MAX) {
    // A chunk went missing before this one (or the stream lies): the
    // buffer cannot be complete.
    e.broken[h.arg] = true;
    bytes_ -= part.size();
    e.size -= part.size();
    std::string().swap(part);
    return;
  }
  part.append(static_cast<const char*>(data) + sizeof(h), h.len);
  e.size += h.len;
  bytes_ += h.len;
}

void DataChunks::EvictLocked(size_t incoming) {
  while (!order_.empty() && (entries_.size() >= limits_.max_entries || bytes_ + incoming > limits_.max_bytes)) {
    auto it = entries_.find(order_.front());
    order_.pop_front();
    if (it == entries_.end()) continue;
    ++stats_.evicted;
    evicted_[it->first] = true;
    evicted_order_.push_back(it->first);
    while (evicted_order_.size() > limits_.max_entries) {
      evicted_.erase(evicted_order_.front());
      evicted_order_.pop_front();
    }
    DropLocked(it);
  }
}

void DataChunks::DropLocked(std::map<uint64_t, Entry>::iterator it) {
  bytes_ -= it->second.size;
  entries_.erase(it);
  // Ids in order_ whose entry is gone are skipped when they come up; keep
  // the queue from growing past the live entries by much.
  if (order_.size() > 2 * limits_.max_entries + 16) {
    std::deque<uint64_t> live;
    for (uint64_t id : order_) {
      if (entries_.count(id)) live.push_back(id);
    }
    order_.swap(live);
  }
}

void DataChunks::Finish(const tgd_policy_event& ev) {
  if (ev.data_id == 0) return;
  absl::MutexLock l(&mu_);
  const bool was_evicted = evicted_.count(ev.data_id) > 0;
  auto it = entries_.find(ev.data_id);
  if (it == entries_.end()) {
    if (was_evicted) evicted_.erase(ev.data_id);
    EvictLocked(0);
    it = entries_.emplace(ev.data_id, Entry{}).first;
    order_.push_back(ev.data_id);
  }
  Entry& e = it->second;
  if (e.finished) return;  // the same id twice: keep the first
  e.finished = true;
  const uint32_t n = std::min<uint32_t>(ev.n_args, TGD_MAX_ARGS);
  for (uint32_t a = 0; a < TGD_MAX_ARGS; ++a) {
    const tgd_data_desc& d = ev.data[a];
    BufferData& out = e.done[a];
    std::string& part = e.parts[a];
    if (a >= n || (d.sent == 0 && d.flags == 0)) {
      out.kind = BufferData::kInline;
    } else if (d.flags & TGD_DATAF_LOST) {
      out.kind = BufferData::kLost;
    } else if (d.flags & TGD_DATAF_PAGEFAULT) {
      out.kind = BufferData::kPageFault;
    } else if (e.broken[a] || part.size() != d.sent || was_evicted) {
      out.kind = BufferData::kLost;
    } else {
      out.kind = BufferData::kComplete;
      out.bytes.swap(part);  // stays counted in e.size / bytes_ until released
      continue;
    }
    if (out.kind == BufferData::kLost) ++stats_.lost;
    bytes_ -= part.size();
    e.size -= part.size();
    std::string().swap(part);
  }
}

EventBuffers DataChunks::Get(const tgd_policy_event& ev) const {
  EventBuffers out;
  if (ev.data_id == 0) return out;
  absl::MutexLock l(&mu_);
  auto it = entries_.find(ev.data_id);
  if (it != entries_.end() && it->second.finished) return it->second.done;
  // Evicted while its event waited: what was sent is gone.
  const uint32_t n = std::min<uint32_t>(ev.n_args, TGD_MAX_ARGS);
  for (uint32_t a = 0; a < n; ++a) {
    const tgd_data_desc& d = ev.data[a];
    if (d.flags & TGD_DATAF_PAGEFAULT && !(d.flags & TGD_DATAF_LOST)) {
      out[a].kind = BufferData::kPageFault;
    } else if (d.sent != 0 || d.flags != 0) {
      out[a].kind = BufferData::kLost;
    }
  }
  return out;
}

void DataChunks::Release(uint64_t data_id) {
  if (data_id == 0) return;
  absl::MutexLock l(&mu_);
  auto it = entries_.find(data_id);
  if (it != entries_.end() && it->second.finished) DropLocked(it);
}

DataChunks::Stats DataChunks::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

size_t DataChunks::entries() const {
  absl::MutexLock l(&mu_);
  return entries_.size();
}

size_t DataChunks::bytes() const {
  absl::MutexLock l(&mu_);
  return bytes_;
}

}  // namespace tgd
