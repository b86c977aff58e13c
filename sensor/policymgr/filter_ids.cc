// FilterIdAllocator implementation.
#include "sensor/policymgr/filter_ids.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tgd {

FilterIdAllocator::FilterIdAllocator(uint32_t first, uint32_t last, InUse in_use)
    : first_(first == 0 ? 1 : first), last_(last), next_(first_), in_use_(std::move(in_use)) {}

FilterIdAllocator FilterIdAllocator::Own(InUse in_use) {
  return FilterIdAllocator(kOwnFirstFilterId, kLastFilterId, std::move(in_use));
}

FilterIdAllocator FilterIdAllocator::BesideTetragon(InUse in_use) {
  return FilterIdAllocator(kTetragonSideFirstFilterId, kLastFilterId, std::move(in_use));
}

absl::StatusOr<uint32_t> FilterIdAllocator::Next() {
  while (next_ <= last_) {
    uint32_t id = static_cast<uint32_t>(next_++);
    if (!in_use_ || !in_use_(id)) return id;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("policy filter ids ", first_, "..", last_, " are used up"));
}

}  // namespace tgd
