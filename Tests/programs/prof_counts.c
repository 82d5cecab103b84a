/*
 * prof_counts.c: the heap profiler never allocates through malloc.
 *
 * Usage: prof_counts N DUMP   (run with ZONEMALLOC_PROF=1 and a small ZONEMALLOC_PROF_RATE)
 *
 * Reads zm_stats' malloc_count, then allocates and frees N blocks of 64 B, N/16 of
 * 100 KB (spans) and N/64 of 1 MiB (big blocks), writes a profile with
 * zm_prof_dump(DUMP), and reads malloc_count again. At a small rate most of these are
 * sampled: stacks taken, tables updated, sampled small blocks served from spans. If any
 * of that called malloc, the count would grow by more than the program's own calls.
 * Prints "counts ok calls=C mallocs=M dump=R": C the program's calls, M the growth of
 * malloc_count, R what zm_prof_dump returned.
 */
#include "common.h"
#include "zonemalloc.h"

__attribute__((noinline)) static void churn(size_t n, size_t size) {
  for (size_t i = 0; i < n; i++) {
    char *p = malloc(size);
    if (!p) ZT_FAIL("malloc(%zu)", size);
    p[0] = (char)i;
    free(p);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) ZT_FAIL("usage: prof_counts N DUMP");
  size_t n = strtoull(argv[1], NULL, 10);
  zm_stats_t before, after;
  zm_stats(&before);
  churn(n, 64);
  churn(n / 16, 100000);
  churn(n / 64, 1 << 20);
  int rc = zm_prof_dump(argv[2]);
  zm_stats(&after);
  printf("counts ok calls=%zu mallocs=%llu dump=%d\n", n + n / 16 + n / 64,
         (unsigned long long)(after.malloc_count - before.malloc_count), rc);
  return 0;
}
