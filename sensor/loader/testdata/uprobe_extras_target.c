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
 *                                 and N through the 64-bit one (39).
 *   uprobe_extras_target btf N    calls tgdx_take(&outer) N times, with
 *                                 outer.in->deep = 100 + i (also through
 *                                 outer.ptrs[1]), outer.vals[2] = 200 + i,
 *                                 outer.dyn[2] = 300 + i and
 *                                 outer.emb.name "embedded", and fires USDT
 *                                 tgdx:outer(&outer) after each (the types are
 *                                 in uprobe_extras_target.btf, made by pahole). */
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <unistd.h>

struct tgdx_inner {
  long pad;
  int deep;
  char name[16];
};

struct tgdx_outer {
  int a;
  struct tgdx_inner *in;
  struct tgdx_inner emb;
  int vals[4];
  struct tgdx_inner *ptrs[2];
  long *dyn;
};

__attribute__((noinline)) int tgdx_take(struct tgdx_outer *o) {
  __asm__ volatile("" ::: "memory");
  return o->a;
}

static int btf(int n) {
  struct tgdx_inner in = {0, 0, "pointed-to"};
  long dyn[3] = {5, 6, 0};
  struct tgdx_outer o = {7, &in, {0, 0, "embedded"}, {1, 2, 0, 4}, {0, &in}, dyn};
  int sum = 0;
  for (int i = 0; i < n; i++) {
    in.deep = 100 + i;
    o.vals[2] = 200 + i;
    dyn[2] = 300 + i;
    sum += tgdx_take(&o);
    STAP_PROBE1(tgdx, outer, &o);
  }
  return sum == 7 * n ? 0 : 1;
}

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
    if (r <= 0) return 2;
#endif
    syscall(SYS_getpid);
  }
  return 0;
}

int main(int argc, char **argv) {
  int n = argc > 2 ? atoi(argv[2]) : 1;
  if (argc > 1 && strcmp(argv[1], "usdt") == 0) return usdt(n);
  if (argc > 1 && strcmp(argv[1], "compat") == 0) return compat(n);
  if (argc > 1 && strcmp(argv[1], "btf") == 0) return btf(n);
  return 64;
}
