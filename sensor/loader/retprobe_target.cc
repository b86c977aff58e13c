// A uprobe/uretprobe target for the return-probe root tests: functions with
// known arguments and return values, a buffer the callee fills (returnCopy),
// recursion (nested calls of one function in one task) and several threads
// calling at once. Usage:
//   retprobe_target add A B            prints tgd_rt_add(A, B)
//   retprobe_target fill TAG           tgd_rt_fill fills a buffer with "filled-TAG"
//   retprobe_target fillbig N          tgd_rt_fill_big fills N bytes (byte i: 'a' + i % 26) and returns N
//   retprobe_target filliov N          tgd_rt_fill_iov fills 3 iovecs of 3000 bytes as fillbig, returns N
//   retprobe_target depth N            tgd_rt_depth(N) recurses N times (returns 100 + N)
//   retprobe_target threads T K        T threads call tgd_rt_add(t, k) for k < K
//   retprobe_target sock               tgd_rt_sock_new returns an object, a child
//                                      uses it (tgd_rt_sock_use), tgd_rt_sock_release
//                                      returns it, a second child uses it; prints
//                                      "PARENT CHILD1 CHILD2"
#include <pthread.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <thread>
#include <vector>

extern "C" {

// noinline and an empty asm: each call stays a real call to the symbol.
__attribute__((noinline, used)) long tgd_rt_add(long a, long b) {
  asm volatile("" ::: "memory");
  return a + b;
}

__attribute__((noinline, used)) long tgd_rt_fill(long tag, char* buf, long size) {
  asm volatile("" ::: "memory");
  int n = snprintf(buf, static_cast<size_t>(size), "filled-%ld", tag);
  return n < size ? n : size - 1;
}

__attribute__((noinline, used)) long tgd_rt_fill_big(long n, char* buf, long size) {
  asm volatile("" ::: "memory");
  if (n > size) n = size;
  for (long i = 0; i < n; ++i) buf[i] = static_cast<char>('a' + i % 26);
  return n;
}

__attribute__((noinline, used)) long tgd_rt_fill_iov(long n, struct iovec* iov, long cnt) {
  asm volatile("" ::: "memory");
  long at = 0;
  for (long i = 0; i < cnt; ++i) {
    char* b = static_cast<char*>(iov[i].iov_base);
    for (size_t j = 0; j < iov[i].iov_len; ++j, ++at) b[j] = static_cast<char>('a' + at % 26);
  }
  return n;
}

__attribute__((noinline, used)) long tgd_rt_depth(long n) {
  if (n <= 0) return 100;
  long r = tgd_rt_depth(n - 1) + 1;
  asm volatile("" ::: "memory");  // not a tail call
  return r;
}

// Stand-ins for functions handing out and taking a socket (returnArgAction
// TrackSock/UntrackSock): the object's address is what is tracked.
static long tgd_rt_object[4];

__attribute__((noinline, used)) void* tgd_rt_sock_new(void) {
  asm volatile("" ::: "memory");
  return tgd_rt_object;
}

__attribute__((noinline, used)) long tgd_rt_sock_use(void* sk) {
  asm volatile("" ::: "memory");
  return sk != nullptr;
}

__attribute__((noinline, used)) void* tgd_rt_sock_release(void* sk) {
  asm volatile("" ::: "memory");
  return sk;
}

}  // extern "C"

// A child of this process calls tgd_rt_sock_use(sk); returns its pid.
static pid_t UseInChild(void* sk) {
  pid_t pid = fork();
  if (pid == 0) _exit(tgd_rt_sock_use(sk) ? 0 : 1);
  int st = 0;
  waitpid(pid, &st, 0);
  return pid;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string cmd = argv[1];
  if (cmd == "add" && argc == 4) {
    printf("%ld\n", tgd_rt_add(atol(argv[2]), atol(argv[3])));
  } else if (cmd == "fill" && argc == 3) {
    char buf[64];
    memset(buf, 'x', sizeof(buf));  // before the call: the entry sees no "filled-"
    buf[sizeof(buf) - 1] = 0;
    long n = tgd_rt_fill(atol(argv[2]), buf, 32);
    printf("%ld %s\n", n, buf);
  } else if (cmd == "fillbig" && argc == 3) {
    std::vector<char> buf(1 << 20, 'x');
    printf("%ld\n", tgd_rt_fill_big(atol(argv[2]), buf.data(), static_cast<long>(buf.size())));
  } else if (cmd == "filliov" && argc == 3) {
    static char bufs[3][3000];
    memset(bufs, 'x', sizeof(bufs));
    struct iovec iov[3] = {{bufs[0], 3000}, {bufs[1], 3000}, {bufs[2], 3000}};
    printf("%ld\n", tgd_rt_fill_iov(atol(argv[2]), iov, 3));
  } else if (cmd == "depth" && argc == 3) {
    printf("%ld\n", tgd_rt_depth(atol(argv[2])));
  } else if (cmd == "threads" && argc == 4) {
    const int t = atoi(argv[2]), k = atoi(argv[3]);
    std::vector<std::thread> threads;
    for (int i = 0; i < t; ++i) {
      threads.emplace_back([i, k] {
        long sum = 0;
        for (int j = 0; j < k; ++j) sum += tgd_rt_add(1000 * (i + 1), j);
        printf("%d %ld\n", i, sum);
      });
    }
    for (auto& th : threads) th.join();
  } else if (cmd == "sock" && argc == 2) {
    void* sk = tgd_rt_sock_new();
    pid_t c1 = UseInChild(sk);
    tgd_rt_sock_release(sk);
    pid_t c2 = UseInChild(sk);
    printf("%d %d %d\n", getpid(), c1, c2);
  } else {
    return 2;
  }
  return 0;
}
