/* A target for the loader's root tests of USDT operand forms, Set and
 * 32-bit syscalls (uprobe_extras_root_test):
 *   uprobe_extras_target usdt N   fires, N times, USDT tgdx:sib(arr[i % 8])
 *                                 (an operand with an index register at -O1:
 *                                 "-4@48(%rsp,%rdx,4)"), tgdx:set_mem(cell)
 *                                 (a memory operand) and tgdx:set_reg(i + 1)
 *                                 (a register), and exits with cell's value
 *                                 (1 unless a policy's Set wrote it).
 *   uprobe_extras_target compat N makes N getpid calls through the 32-bit
 *                                 syscall entry (int $0x80, i386 number 20)
 *                                 and N through the 64-bit one (39). */
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <unistd.h>

static int usdt(int n) {
  volatile int arr[8] = {10, 11, 12, 13, 14, 15, 16, 17};
  volatile int cell = 1;
  for (int i = 0; i < n; i++) {
    STAP_PROBE1(tgdx, sib, arr[i & 7]);
    STAP_PROBE1(tgdx, set_mem, cell);
    STAP_PROBE1(tgdx, set_reg, i + 1);
  }
  return cell;
}

static int compat(int n) {
  for (int i = 0; i < n; i++) {
#if defined(__x86_64__)
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    if (r != getpid()) return 2;
#endif
    syscall(SYS_getpid);
  }
  return 0;
}

int main(int argc, char **argv) {
  int n = argc > 2 ? atoi(argv[2]) : 1;
  if (argc > 1 && strcmp(argv[1], "usdt") == 0) return usdt(n);
  if (argc > 1 && strcmp(argv[1], "compat") == 0) return compat(n);
  return 64;
}
