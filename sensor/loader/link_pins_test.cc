// LinkPins bookkeeping on an ordinary directory (no bpffs needed): numbered
// generations, listing in numeric order, retiring removes them. Pinning real
// links and the handover are covered end to end by //sensor:restart_root_test.
#include "sensor/loader/link_pins.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tgd {
namespace {

TEST(LinkPinsTest, GenerationsAreNumberedListedAndRetired) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/pins-", getpid());
  std::filesystem::create_directories(dir);
  std::filesystem::create_directory(dir + "/gen-9");
  std::filesystem::create_directory(dir + "/gen-x");  // not a generation
  std::ofstream(dir + "/policy_filter_maps") << "";   // not ours to retire
  auto pins = LinkPins::Create(dir);
  ASSERT_TRUE(pins.ok()) << pins.status();
  EXPECT_EQ((*pins)->dir(), dir + "/gen-10");
  std::ofstream(dir + "/gen-9/hook-1") << "";
  std::ofstream(dir + "/gen-9/map-tgd_events") << "";
  EXPECT_EQ(ListGenerations(dir), (std::vector<std::string>{dir + "/gen-9", dir + "/gen-10"}));

  EXPECT_EQ(RetireGenerations({dir + "/gen-9"}), 2u);
  EXPECT_FALSE(std::filesystem::exists(dir + "/gen-9"));
  EXPECT_EQ(ListGenerations(dir), (std::vector<std::string>{dir + "/gen-10"}));
  (*pins)->RemoveAll();
  EXPECT_TRUE(ListGenerations(dir).empty());
  EXPECT_TRUE(std::filesystem::exists(dir + "/policy_filter_maps"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/gen-x"));
  EXPECT_FALSE(LinkPins::Create(dir + "/missing/dir").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tgd
