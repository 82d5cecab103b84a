/*
 * mixed_lifetime.c: one thread, random sizes, a sliding window of live blocks.
 *
 * Models: a single-threaded program whose objects live for a while and die roughly
 * in the order they were made (a parser's nodes, a request's buffers, a compiler's
 * per-function data), with some dying young. Sizes are random from 16 B to 8 KiB,
 * log-uniform (as many blocks of 16..32 B as of 4..8 KiB), so most blocks are small
 * but the mix crosses many size classes. Each operation allocates a block at the head
 * of a window of `window` slots; when the window is full the block at its tail (the
 * oldest) is freed first. With probability `early` % an operation also frees a
 * random block inside the window before its time; the tail skips such holes.
 *
 * Usage: mixed_lifetime [threads=1, must be 1] [operations=20000000] [--window 10000]
 *        [--early 10]
 * Checks: every block carries its tag in its first and last 8 bytes, checked before
 * it is freed; allocations == frees at the end.
 * Prints: ok name=mixed-lifetime ops=N allocs=N frees=N early_frees=N secs=S ops_per_s=N
 */
#include "common.h"

enum { MIN_SIZE = 16, MAX_SIZE = 8 << 10 };

typedef struct {
  slot_t *ring;
  long window, head, tail;   /* live blocks are ring[tail..head) modulo window */
  rng_t rng;
  uint64_t allocs, frees, early_frees;
} window_t;

static void drop(window_t *w, slot_t *s) {
  if (!s->ptr) return;
  if (!ends_check(s->ptr, s->size, s->tag))
    die("mixed_lifetime: block %p of %zu bytes was overwritten", s->ptr, s->size);
  free(s->ptr);
  s->ptr = NULL;
  w->frees++;
}

static void push(window_t *w) {
  slot_t *s = &w->ring[w->head % w->window];
  s->size = rng_log_range(&w->rng, MIN_SIZE, MAX_SIZE);
  s->tag = rng_next(&w->rng);
  s->ptr = malloc(s->size);
  if (!s->ptr) die("mixed_lifetime: malloc(%zu) returned NULL", s->size);
  ends_stamp(s->ptr, s->size, s->tag);
  w->head++;
  w->allocs++;
}

/* Frees a random block inside the window (a hole the tail will skip later). */
static void free_early(window_t *w) {
  long live = w->head - w->tail;
  if (live == 0) return;
  slot_t *s = &w->ring[(w->tail + (long)(rng_next(&w->rng) % (uint64_t)live)) % w->window];
  if (!s->ptr) return;
  drop(w, s);
  w->early_frees++;
}

static void step(window_t *w, long early) {
  if (w->head - w->tail == w->window) drop(w, &w->ring[w->tail++ % w->window]);
  push(w);
  if ((long)(rng_next(&w->rng) % 100) < early) free_early(w);
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 1);
  long ops = arg_pos(argc, argv, 2, 20000000);
  long window = arg_flag(argc, argv, "--window", 10000);
  long early = arg_flag(argc, argv, "--early", 10);
  if (threads != 1 || ops < 1 || window < 1 || early < 0 || early > 100) die("mixed_lifetime: bad arguments");

  window_t w = { .window = window, .rng = rng_seed(1313) };
  w.ring = calloc((size_t)window, sizeof(slot_t));
  if (!w.ring) die("mixed_lifetime: calloc of the window failed");
  uint64_t t0 = now_ns();
  for (long i = 0; i < ops; i++) step(&w, early);
  while (w.tail < w.head) drop(&w, &w.ring[w.tail++ % w.window]);
  double secs = secs_since(t0);
  free(w.ring);

  if (w.allocs != (uint64_t)ops || w.frees != w.allocs)
    die("mixed_lifetime: %ld operations, %llu allocations, %llu frees", ops,
        (unsigned long long)w.allocs, (unsigned long long)w.frees);
  printf("ok name=mixed-lifetime ops=%ld window=%ld allocs=%llu frees=%llu early_frees=%llu secs=%.3f"
         " ops_per_s=%.0f\n", ops, window, (unsigned long long)w.allocs, (unsigned long long)w.frees,
         (unsigned long long)w.early_frees, secs, (double)ops / secs);
  return 0;
}
