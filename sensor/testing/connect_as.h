// ConnectAs: a socket connected by another user. A forked child drops to
// uid/gid, connects and passes the socket back over SCM_RIGHTS; the kernel
// keeps the child's credentials on it (SO_PEERCRED, the TCP socket's owner),
// so a test can drive a server "as nobody" from its own (root) process.
#ifndef TGDISPATCH_SENSOR_TESTING_CONNECT_AS_H_
#define TGDISPATCH_SENSOR_TESTING_CONNECT_AS_H_

#include <sys/socket.h>
#include <sys/types.h>

namespace tgd::testing {

// The connected socket (the caller owns it), -errno of the child's connect
// (e.g. -EACCES for a unix socket whose mode keeps the user out), or
// INT_MIN when the child could not run or change user. Needs root. The
// child only makes system calls (safe after fork in a threaded process).
int ConnectAs(uid_t uid, gid_t gid, const sockaddr* address, socklen_t length);

}  // namespace tgd::testing

#endif  // TGDISPATCH_SENSOR_TESTING_CONNECT_AS_H_
