/*
 * fastpath.c: the single-thread fast path, malloc(32) followed by free, in a loop.
 *
 * Models: nothing real; it isolates the cost of the hottest path of an allocator.
 * The driver runs it under callgrind twice, with N and 2N iterations, and divides
 * the difference of the two instruction counts by N: start-up, initialisation and
 * exit cancel out, leaving the instructions of one malloc(32)+free pair plus a
 * handful for the loop itself (the same for every allocator).
 *
 * Usage: fastpath [threads=1, ignored] [iterations=100000]
 * Checks: every malloc result is non-NULL; one extra block is written and read back.
 * Prints: ok name=fastpath iterations=N
 */
#include "common.h"

/* An empty asm that "uses" the pointer keeps the compiler from pairing malloc with
 * free and deleting both, without adding instructions to the loop. */
static inline void keep(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

int main(int argc, char **argv) {
  long iterations = arg_pos(argc, argv, 2, 100000);
  if (iterations < 1) die("fastpath: bad arguments");
  for (long i = 0; i < iterations; i++) {
    char *p = malloc(32);
    if (!p) die("fastpath: malloc(32) returned NULL");
    keep(p);
    free(p);
  }
  char *q = malloc(32);  /* one checked block, outside the measured difference */
  if (!q) die("fastpath: malloc(32) returned NULL");
  memset(q, 0x5A, 32);
  for (int k = 0; k < 32; k++) if (q[k] != 0x5A) die("fastpath: block %p lost its contents", (void *)q);
  free(q);
  printf("ok name=fastpath iterations=%ld\n", iterations);
  return 0;
}
