// Tests of IsLoopbackHost: literal loopback addresses only.
#include "sensor/base/loopback.h"

#include "gtest/gtest.h"

namespace tgd {
namespace {

TEST(IsLoopbackHostTest, LiteralLoopbackAddresses) {
  for (const char* host : {"localhost", "LocalHost", "127.0.0.1", "127.0.0.2", "127.255.255.254",
                           "127.1.2.3", "::1", "[::1]", "0:0:0:0:0:0:0:1", "[0:0:0:0:0:0:0:1]"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
}

TEST(IsLoopbackHostTest, NamesAndOtherAddressesAreNot) {
  for (const char* host :
       {"127.evil.example", "127.0.0.1.nip.io", "127.", "127", "127.1", "127.0.0.256", "127.0.0.1 ",
        " 127.0.0.1", "0.0.0.0", "10.0.0.1", "128.0.0.1", "1.127.0.0", "", "::", "[::]", "::2",
        "[::1", "::1]", "[[::1]]", "::ffff:127.0.0.1", "localhost.", "localhost.evil.example",
        "evil-localhost", "example.com"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

}  // namespace
}  // namespace tgd
