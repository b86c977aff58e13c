// ConnectAs implementation.
#include "sensor/testing/connect_as.h"

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace tgd::testing {
namespace {

constexpr int kConnectFailedBase = 100;  // child exit code: 100 + connect's errno

}  // namespace

int ConnectAs(uid_t uid, gid_t gid, const sockaddr* address, socklen_t length) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return INT_MIN;
  pid_t pid = fork();
  if (pid == 0) {
    close(pair[0]);
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(2);
    int fd = socket(address->sa_family, SOCK_STREAM, 0);
    if (fd < 0) _exit(3);
    if (connect(fd, address, length) != 0) _exit(kConnectFailedBase + errno);
    char byte = 0;
    iovec iov = {&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    _exit(sendmsg(pair[1], &msg, 0) == 1 ? 0 : 4);
  }
  close(pair[1]);
  int fd = INT_MIN;
  if (pid > 0) {
    char byte;
    iovec iov = {&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (recvmsg(pair[0], &msg, MSG_CMSG_CLOEXEC) == 1) {
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      if (c != nullptr && c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (fd == INT_MIN && WIFEXITED(status) && WEXITSTATUS(status) > kConnectFailedBase) {
      fd = -(WEXITSTATUS(status) - kConnectFailedBase);
    }
  }
  close(pair[0]);
  return fd;
}

}  // namespace tgd::testing
