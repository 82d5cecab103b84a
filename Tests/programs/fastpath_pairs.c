/*
 * fastpath_pairs.c: malloc(32) then free, N times, for counting instructions with
 * callgrind (the difference between two values of N is the cost of N pairs).
 *
 * Usage: fastpath_pairs N
 */
#include "common.h"

/* An empty asm that uses the pointer keeps the compiler from pairing malloc with free. */
static inline void keep(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  for (long i = 0; i < n; i++) {
    char *p = malloc(32);
    if (!p) ZT_FAIL("malloc(32) returned NULL");
    keep(p);
    free(p);
  }
  return 0;
}
