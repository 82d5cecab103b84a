/*
 * stats_balanced.c: allocates blocks of many sizes through malloc, calloc and
 * posix_memalign, frees every one of them, and exits without touching stdio buffers
 * (nothing allocated by libc stays live). Run with ZONEMALLOC_STATS=1: the summary
 * printed at exit must then count as many frees as mallocs, and nothing allocated.
 *
 * Usage: stats_balanced COUNT   (three rounds of COUNT blocks)
 * Writes "balanced N" on stdout through write(2), N the number of blocks, and exits 0.
 */
#include "common.h"
#include <unistd.h>

#define MAX_COUNT 100000

/* Block i comes from calloc, posix_memalign or malloc, by its index. */
static void *allocate(int i, size_t n) {
  void *p = NULL;
  if (i % 7 == 0) return calloc(1, n);
  if (i % 11 == 0) return posix_memalign(&p, 256, n) == 0 ? p : NULL;
  return malloc(n);
}

int main(int argc, char **argv) {
  static void *blocks[MAX_COUNT];
  int count = argc > 1 ? atoi(argv[1]) : 5000;
  if (count < 0 || count > MAX_COUNT) ZT_FAIL("bad count");
  uint64_t rng = zt_seed_for(5);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < count; i++) {
      size_t n = zt_skewed_size(&rng, 1 << 20);
      if (!(blocks[i] = allocate(i, n))) ZT_FAIL("allocation of %zu failed", n);
      memset(blocks[i], 1, n);
    }
    for (int i = 0; i < count; i++) free(blocks[i]);
  }
  char line[64];
  int len = snprintf(line, sizeof line, "balanced %d\n", 3 * count);
  if (write(1, line, (size_t)len) != len) return 1;
  return 0;
}
