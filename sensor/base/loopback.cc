// IsLoopbackHost implementation.
#include "sensor/base/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace tgd {

bool IsLoopbackHost(absl::string_view host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  // inet_pton needs a NUL-terminated string.
  const std::string v4(host);
  in_addr a4;
  if (inet_pton(AF_INET, v4.c_str(), &a4) == 1) {
    return (ntohl(a4.s_addr) >> 24) == 127;
  }
  absl::string_view h = host;
  if (absl::ConsumePrefix(&h, "[") && !absl::ConsumeSuffix(&h, "]")) return false;
  const std::string v6(h);
  in6_addr a6;
  return inet_pton(AF_INET6, v6.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

}  // namespace tgd
