// Unit tests of the owned dump and of the consistency check between a
// policy_filter_maps and its reverse.
#include "sensor/policyfilter/filter_dump.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr uint64_t kHost = ~0ULL;

TEST(FilterDumpTest, ConsistentMapsHaveNoFindingsAndHostKeyIsOnlyInPolicies) {
  PolicyFilterContent c;
  c.policies = {{1, {10, 11}}, {2, {10, kHost}}};
  c.cgroups = {{10, {1, 2}}, {11, {1}}};
  EXPECT_THAT(PolicyFilterInconsistencies(c, true), IsEmpty());
}

TEST(FilterDumpTest, FlagsBothDirections) {
  PolicyFilterContent c;
  c.policies = {{1, {10}}, {2, {10, 11}}};
  c.cgroups = {{10, {1}}, {12, {3}}, {13, {}}};
  EXPECT_THAT(
      PolicyFilterInconsistencies(c, true),
      ElementsAre(
          HasSubstr(
              "policy 2 lists cgroup 10, whose policy_filter_cgroup_maps row"),
          HasSubstr("policy 2 lists cgroup 11, which has no row"),
          HasSubstr("cgroup 12 lists policy 3, which has no entry"),
          HasSubstr("row 13 is empty")));
  // Without the reverse map there is nothing to compare.
  EXPECT_THAT(PolicyFilterInconsistencies(c, false), IsEmpty());
}

TEST(FilterDumpTest, TagsOwnersAndFlagsIdsInTheWrongMaps) {
  OwnedMaps agent{"tetragon", "/sys/fs/bpf/tetragon", PolicyFilterContent{},
                  true};
  agent.content->policies = {{1, {10}}, {2, {10}}, {0x40000001, {}}};
  agent.content->cgroups = {{10, {1, 2}}};
  OwnedMaps ours{"tgdispatch", "/sys/fs/bpf/tgdispatch", PolicyFilterContent{},
                 true};
  ours.content->policies = {{1, {10}}, {2, {}}};
  ours.content->cgroups = {{10, {1}}};
  int problems = -1;
  std::string out = FormatOwnedDump({agent, ours}, &problems);
  EXPECT_THAT(out, HasSubstr("[tetragon] 1(all-pods): 10"));
  EXPECT_THAT(out, HasSubstr("[tetragon] 10: 1(all-pods) 2"));
  EXPECT_THAT(out, HasSubstr("[tgdispatch] 2:"));
  EXPECT_THAT(out, HasSubstr("policy 1073741825 is in tgdispatch's id range"));
  EXPECT_THAT(out, HasSubstr("policy id 2 is a key of both owners' maps"));
  EXPECT_EQ(problems, 2);

  OwnedMaps absent{"tgdispatch", "/nowhere", std::nullopt, true};
  agent.content->policies.erase(0x40000001);
  out = FormatOwnedDump({agent, absent}, &problems);
  EXPECT_THAT(out, HasSubstr("/nowhere\n  (not pinned)"));
  EXPECT_THAT(out, HasSubstr("inconsistencies: none"));
  EXPECT_THAT(out, Not(HasSubstr("[tgdispatch]")));
  EXPECT_EQ(problems, 0);
}

}  // namespace
}  // namespace tgd
