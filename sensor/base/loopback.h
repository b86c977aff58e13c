// IsLoopbackHost: whether the host part of a listen address is a literal
// loopback address, so that an unauthenticated API stays on this machine.
#ifndef TGDISPATCH_SENSOR_BASE_LOOPBACK_H_
#define TGDISPATCH_SENSOR_BASE_LOOPBACK_H_

#include "absl/strings/string_view.h"

namespace tgd {

// True for "localhost" (any case), an IPv4 address in 127.0.0.0/8 in full
// dotted-quad form ("127.0.0.1", "127.1.2.3") and the IPv6 loopback "::1"
// (bare or bracketed: "[::1]", also spelled "0:0:0:0:0:0:0:1"). Parsed with
// inet_pton, never by prefix: "127.evil.example", "127.0.0.1.nip.io",
// "127.1" and "::ffff:127.0.0.1" are not loopback here.
bool IsLoopbackHost(absl::string_view host);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_BASE_LOOPBACK_H_
