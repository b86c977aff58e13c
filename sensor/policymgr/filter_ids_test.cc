// FilterIdAllocator: ranges, skipping ids in use, never handing one out twice.
#include "sensor/policymgr/filter_ids.h"

#include <set>

#include "gtest/gtest.h"

namespace tgd {
namespace {

TEST(FilterIdAllocatorTest, OwnMapsCountFromTwo) {
  FilterIdAllocator a = FilterIdAllocator::Own();
  EXPECT_EQ(*a.Next(), 2u);
  EXPECT_EQ(*a.Next(), 3u);
  EXPECT_EQ(*a.Next(), 4u);
}

TEST(FilterIdAllocatorTest, BesideTetragonUsesItsOwnRangeAndSkipsIdsInTheMaps) {
  // Tetragon's policies 1..3 and its all-pods id, plus two entries in our
  // range left by an earlier run.
  std::set<uint32_t> in_maps = {1, 2, 3, 0xffffffff, kTetragonSideFirstFilterId,
                                kTetragonSideFirstFilterId + 2};
  FilterIdAllocator a =
      FilterIdAllocator::BesideTetragon([&](uint32_t id) { return in_maps.count(id) > 0; });
  EXPECT_EQ(*a.Next(), kTetragonSideFirstFilterId + 1);
  EXPECT_EQ(*a.Next(), kTetragonSideFirstFilterId + 3);
  // An id that shows up in the maps after the allocator passed it is not
  // handed out again either (ids only move forward).
  in_maps.insert(kTetragonSideFirstFilterId + 5);
  EXPECT_EQ(*a.Next(), kTetragonSideFirstFilterId + 4);
  EXPECT_EQ(*a.Next(), kTetragonSideFirstFilterId + 6);
}

TEST(FilterIdAllocatorTest, NeverHandsOutAnIdTwiceAndStopsAtTheEnd) {
  FilterIdAllocator a(kLastFilterId - 2, kLastFilterId);
  std::set<uint32_t> seen;
  for (int i = 0; i < 3; ++i) {
    auto id = a.Next();
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_TRUE(seen.insert(*id).second) << *id;
    EXPECT_NE(*id, 0xffffffffu);  // Tetragon's all-pods id
  }
  EXPECT_EQ(a.Next().status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(a.Next().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(FilterIdAllocatorTest, ZeroIsNeverHandedOut) {
  FilterIdAllocator a(0, 2);
  EXPECT_EQ(*a.Next(), 1u);
  EXPECT_EQ(*a.Next(), 2u);
  EXPECT_FALSE(a.Next().ok());
}

}  // namespace
}  // namespace tgd
