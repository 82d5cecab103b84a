/*
 * fastpath_live.c: the single-thread fast path as programs meet it: malloc(size) and
 * free in a loop while other blocks of the same size stay live.
 *
 * Models: the common case of an allocator's hottest path. Eight blocks of the size
 * are allocated first and kept, so the slab (or page, or run) that serves the loop
 * always holds live neighbours and no free in the loop ever empties it. Calls go
 * through volatile function pointers, so the compiler can neither pair malloc with
 * free and delete them nor inline anything, and the loop writes one byte to each
 * block it gets, as a program would. The driver runs it under callgrind with N and 2N
 * iterations and divides the difference of the instruction counts by N: start-up,
 * the eight blocks and exit cancel out, leaving one malloc+free pair and a few loop
 * instructions (the same for every allocator). fastpath.c is the other figure: the
 * same loop with nothing else live, so each free empties its slab.
 *
 * Usage: fastpath_live [threads=1, ignored] [iterations=100000] [--size 32]
 * Checks: every malloc result is non-NULL; the eight kept blocks still hold their
 * pattern at the end.
 * Prints: ok name=fastpath-live size=N iterations=N
 */
#include "common.h"

enum { KEPT = 8 };

static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

int main(int argc, char **argv) {
  long iterations = arg_pos(argc, argv, 2, 100000);
  long size = arg_flag(argc, argv, "--size", 32);
  if (iterations < 1 || size < 1) die("fastpath_live: bad arguments");
  void *kept[KEPT];
  for (int k = 0; k < KEPT; k++) {
    kept[k] = do_malloc((size_t)size);
    if (!kept[k]) die("fastpath_live: malloc(%ld) returned NULL", size);
    pat_fill(kept[k], (size_t)size, (uint64_t)k);
  }
  for (long i = 0; i < iterations; i++) {
    char *p = do_malloc((size_t)size);
    if (!p) die("fastpath_live: malloc(%ld) returned NULL", size);
    p[0] = (char)i;
    do_free(p);
  }
  for (int k = 0; k < KEPT; k++) {
    if (!pat_check(kept[k], (size_t)size, (uint64_t)k)) die("fastpath_live: kept block %p was overwritten", kept[k]);
    do_free(kept[k]);
  }
  printf("ok name=fastpath-live size=%ld iterations=%ld\n", size, iterations);
  return 0;
}
