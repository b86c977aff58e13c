// --enable-ancestors parsing (Tetragon's event type names).
#include "sensor/process/event_cache.h"

#include "gtest/gtest.h"

namespace tgd {
namespace {

TEST(AncestorsConfigTest, EveryTetragonEventTypeNeedsBase) {
  AncestorsConfig c = AncestorsConfig::Parse("base, kprobe,tracepoint,uprobe,lsm,usdt,loader,bogus");
  EXPECT_TRUE(c.base && c.kprobe && c.tracepoint && c.uprobe && c.lsm && c.usdt && c.loader);
  EXPECT_TRUE(c.any_policy());

  AncestorsConfig usdt_only = AncestorsConfig::Parse("base,usdt");
  EXPECT_TRUE(usdt_only.usdt);
  EXPECT_FALSE(usdt_only.uprobe);  // usdt events follow `usdt`, not `uprobe`
  EXPECT_TRUE(usdt_only.any_policy());

  AncestorsConfig no_base = AncestorsConfig::Parse("kprobe,usdt,loader");
  EXPECT_FALSE(no_base.kprobe || no_base.usdt || no_base.loader || no_base.any_policy());
  EXPECT_FALSE(AncestorsConfig::Parse("").base);
}

}  // namespace
}  // namespace tgd
