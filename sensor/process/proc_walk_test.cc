// ParentsFirst: the /proc walk hands the cache parents before children even
// when a child's start time sorts before its parent's (same clock tick).
#include "sensor/process/proc_walk.h"

#include <vector>

#include "gtest/gtest.h"

namespace tgd {
namespace {

ExecRecord Rec(uint32_t pid, uint32_t ppid, uint64_t ktime) {
  ExecRecord r;
  r.pid = r.tid = pid;
  r.ppid = ppid;
  r.ktime = ktime;
  return r;
}

std::vector<uint32_t> Pids(const std::vector<ExecRecord>& rs) {
  std::vector<uint32_t> out;
  for (const ExecRecord& r : rs) out.push_back(r.pid);
  return out;
}

TEST(ParentsFirstTest, MovesAncestorsBeforeTheirChildren) {
  // 30 forked 31 which forked 32 in one tick; the ktimes sorted 32 and 31
  // first (derived from equal start ticks with a clock read between).
  std::vector<ExecRecord> in = {Rec(1, 0, 0), Rec(32, 31, 99), Rec(31, 30, 100), Rec(30, 1, 101), Rec(40, 1, 200)};
  EXPECT_EQ(Pids(ParentsFirst(in)), (std::vector<uint32_t>{1, 30, 31, 32, 40}));
}

TEST(ParentsFirstTest, KeepsAnOrderThatIsAlreadyRight) {
  std::vector<ExecRecord> in = {Rec(1, 0, 0), Rec(5, 1, 10), Rec(3, 1, 20), Rec(7, 5, 30), Rec(9, 77, 40)};
  EXPECT_EQ(Pids(ParentsFirst(in)), (std::vector<uint32_t>{1, 5, 3, 7, 9}));
}

TEST(ParentsFirstTest, ASelfParentedRecordEndsItsChain) {
  std::vector<ExecRecord> in = {Rec(4, 4, 1), Rec(2, 4, 0)};
  EXPECT_EQ(Pids(ParentsFirst(in)), (std::vector<uint32_t>{4, 2}));
}

}  // namespace
}  // namespace tgd
