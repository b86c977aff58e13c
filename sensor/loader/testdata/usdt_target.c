/* A uprobe and USDT target for the loader's root tests: calls
 * tgd_target_fn(i, 5) and fires USDT tgdtest:probe2(i + 40, i * 1000 + 7)
 * (with a semaphore) argv[1] times, then exits with 3 when the semaphore was
 * set (a probe with its reference counter was attached), 0 otherwise. */
#define _SDT_HAS_SEMAPHORES 1
#include <stdlib.h>
#include <sys/sdt.h>

unsigned short tgdtest_probe2_semaphore __attribute__((unused)) __attribute__((section(".probes")));

__attribute__((noinline)) int tgd_target_fn(int a, long b) {
  __asm__ volatile("" ::: "memory");
  return a + (int)b;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  int seen = 0;
  for (int i = 0; i < n; i++) {
    if (tgdtest_probe2_semaphore) seen = 1;
    long big = (long)i * 1000 + 7;
    STAP_PROBE2(tgdtest, probe2, i + 40, big);
    tgd_target_fn(i, 5);
  }
  return seen ? 3 : 0;
}
