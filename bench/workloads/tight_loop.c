/*
 * tight_loop.c: malloc and free in a tight loop, sizes cycling from 16 to 1000 B.
 *
 * Models: code that allocates a temporary, uses it briefly and frees it at once (a
 * string built for a look-up, a small scratch buffer), in the spirit of glibc's
 * bench-malloc-simple. Nothing else is live, so the figure is close to the raw cost
 * of the allocator's fast paths, measured with real size classes: the size steps by
 * one byte per iteration from 16 to 1000 and starts over, so each class is reused a
 * while before the next one takes over. With 2 threads each runs the same loop on
 * its own (the main thread is the first); an allocator whose fast path shares a lock
 * or a cache line between threads slows down there.
 *
 * Usage: tight_loop [threads=1] [pairs=100000000] [--batch 1]
 *   pairs  malloc+free pairs per thread
 *   batch  blocks allocated before they are freed, in order (1: each malloc is
 *          followed by its free; larger batches are bench-malloc-simple's shape)
 * Checks: each block gets its tag in its first and last 8 bytes, read back before the
 * free; every thread completes all its pairs.
 * Prints: ok name=tight-loop threads=N batch=N pairs=N secs=S pairs_per_s=N
 */
#include "common.h"

#include <pthread.h>

enum { MIN_SIZE = 16, MAX_SIZE = 1000 };

typedef struct {
  long id, pairs, batch, done;
  void **held;   /* the blocks of the current batch */
  size_t *sizes;
} looper_t;

/* An empty asm that "uses" the block, so the compiler keeps malloc, stores and free. */
static inline void keep(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static void *loop(void *arg) {
  looper_t *l = arg;
  size_t size = MIN_SIZE;
  uint64_t tag = 0x7157 + (uint64_t)l->id * 0x100000000ull;
  for (long i = 0; i < l->pairs; i += l->batch) {
    long n = l->pairs - i < l->batch ? l->pairs - i : l->batch;
    for (long k = 0; k < n; k++) {
      void *p = malloc(size);
      if (!p) die("tight_loop: malloc(%zu) returned NULL", size);
      ends_stamp(p, size, tag + (uint64_t)k);
      keep(p);
      l->held[k] = p;
      l->sizes[k] = size;
      size = size == MAX_SIZE ? MIN_SIZE : size + 1;
    }
    for (long k = 0; k < n; k++) {
      if (!ends_check(l->held[k], l->sizes[k], tag + (uint64_t)k))
        die("tight_loop: block %p of %zu bytes was overwritten", l->held[k], l->sizes[k]);
      free(l->held[k]);
    }
    tag += (uint64_t)n;
    l->done += n;
  }
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 1);
  long pairs = arg_pos(argc, argv, 2, 100000000);
  long batch = arg_flag(argc, argv, "--batch", 1);
  if (threads < 1 || pairs < 1 || batch < 1) die("tight_loop: bad arguments");

  looper_t *ls = calloc((size_t)threads, sizeof(looper_t));
  pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
  if (!ls || !tids) die("tight_loop: calloc failed");
  for (long i = 0; i < threads; i++) {
    ls[i] = (looper_t){ .id = i, .pairs = pairs, .batch = batch };
    ls[i].held = calloc((size_t)batch, sizeof(void *));
    ls[i].sizes = calloc((size_t)batch, sizeof(size_t));
    if (!ls[i].held || !ls[i].sizes) die("tight_loop: calloc of a batch failed");
  }
  uint64_t t0 = now_ns();
  for (long i = 1; i < threads; i++)
    if (pthread_create(&tids[i], NULL, loop, &ls[i]) != 0) die("tight_loop: pthread_create");
  loop(&ls[0]);  /* the main thread is the first looper */
  long total = 0;
  for (long i = 0; i < threads; i++) {
    if (i > 0) pthread_join(tids[i], NULL);
    if (ls[i].done != pairs) die("tight_loop: thread %ld did %ld of %ld pairs", i, ls[i].done, pairs);
    total += ls[i].done;
  }
  double secs = secs_since(t0);
  printf("ok name=tight-loop threads=%ld batch=%ld pairs=%ld secs=%.3f pairs_per_s=%.0f\n", threads, batch,
         total, secs, (double)total / secs);
  return 0;
}
