/*
 * big_touch.c: big blocks from several threads, barely touched (issue 27).
 *
 * Models: programs that take big buffers and use only a little of each (a receive
 * buffer sized for the worst case, a scratch area, a table reserved ahead), from
 * several threads at once. Each thread keeps a window of `slots` live blocks: every
 * operation allocates a block of a random size from 32 KiB to 4 MiB (uniform, as a
 * program calling malloc(32K + rand() % 4M) would; big-churn is log-uniform) and,
 * once the window is full, frees the oldest one first. Only 3 bytes of each block are
 * written (its first, middle and last byte), so page faults cost little and the time
 * left is the allocator's own: its locks, its system calls, its reuse of freed
 * blocks. big-churn writes every page of its blocks, so its time goes to faults.
 *
 * The suite runs it at 2 and at 4 threads with the same operations per thread, and
 * counts its futex, munmap, madvise and mmap calls under strace (SyscallCount.swift),
 * per free from the frees=N it prints. On a 2-core machine 4 threads oversubscribe
 * the cores: a lock held by a thread that loses its core stalls the others.
 *
 * Usage: big_touch [threads=2] [operations=400000] [--slots 32]
 *   operations  mallocs per thread (400,000 in the issue and in the suite)
 *   slots       live blocks per thread
 * Checks: the 3 written bytes of every block, before it is freed; mallocs == frees.
 * Prints: ok name=big-touch threads=N slots=N ops=N frees=N secs=S wall_ns_per_op=X
 *         cpu_ns_per_op=X ops_per_s=N
 *   ops           mallocs over all threads; the per-op figures divide by it
 *   cpu_ns_per_op user+system CPU time of the whole process over the run, per op
 */
#include "common.h"

#include <pthread.h>

enum { MIN_BLOCK = 32 << 10, MAX_BLOCK = 4 << 20 };

typedef struct {
  long id, operations, nslots;
  rng_t rng;
  slot_t *ring;    /* live blocks are ring[(head - live) .. head) modulo nslots */
  long mallocs, frees;
} toucher_t;

static pthread_barrier_t start_line;

/* The byte written at each of the 3 touched places of a block stamped with tag. */
static inline unsigned char touch_byte(uint64_t tag, int which) { return (unsigned char)(tag >> (8 * which)); }

static void touch(slot_t *s) {
  unsigned char *b = s->ptr;
  b[0] = touch_byte(s->tag, 0);
  b[s->size / 2] = touch_byte(s->tag, 1);
  b[s->size - 1] = touch_byte(s->tag, 2);
}

static void drop(toucher_t *t, slot_t *s) {
  const unsigned char *b = s->ptr;
  if (b[0] != touch_byte(s->tag, 0) || b[s->size / 2] != touch_byte(s->tag, 1) ||
      b[s->size - 1] != touch_byte(s->tag, 2))
    die("big_touch: block %p of %zu bytes was overwritten", s->ptr, s->size);
  free(s->ptr);
  s->ptr = NULL;
  t->frees++;
}

static void *run(void *arg) {
  toucher_t *t = arg;
  pthread_barrier_wait(&start_line);
  for (long i = 0; i < t->operations; i++) {
    slot_t *s = &t->ring[i % t->nslots];
    if (s->ptr) drop(t, s);   /* the oldest block of a full window */
    s->size = rng_range(&t->rng, MIN_BLOCK, MAX_BLOCK);
    s->tag = rng_next(&t->rng);
    s->ptr = malloc(s->size);
    if (!s->ptr) die("big_touch: malloc(%zu) returned NULL", s->size);
    t->mallocs++;
    touch(s);
  }
  for (long i = 0; i < t->nslots; i++)
    if (t->ring[i].ptr) drop(t, &t->ring[i]);
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 2);
  long operations = arg_pos(argc, argv, 2, 400000);
  long nslots = arg_flag(argc, argv, "--slots", 32);
  if (threads < 1 || operations < 1 || nslots < 1) die("big_touch: bad arguments");

  toucher_t *ts = calloc((size_t)threads, sizeof(toucher_t));
  if (!ts) die("big_touch: calloc failed");
  for (long i = 0; i < threads; i++) {
    ts[i] = (toucher_t){ .id = i, .operations = operations, .nslots = nslots, .rng = rng_seed(2700 + (uint64_t)i) };
    ts[i].ring = calloc((size_t)nslots, sizeof(slot_t));
    if (!ts[i].ring) die("big_touch: calloc of the window failed");
  }
  pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
  if (!tids) die("big_touch: calloc failed");
  pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
  for (long i = 0; i < threads; i++)
    if (pthread_create(&tids[i], NULL, run, &ts[i]) != 0) die("big_touch: pthread_create");
  uint64_t cpu0 = cpu_now_ns();
  pthread_barrier_wait(&start_line);
  uint64_t t0 = now_ns();
  for (long i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  double secs = secs_since(t0), cpu = (double)(cpu_now_ns() - cpu0) / 1e9;

  long mallocs = 0, frees = 0;
  for (long i = 0; i < threads; i++) {
    mallocs += ts[i].mallocs;
    frees += ts[i].frees;
  }
  if (mallocs != frees || mallocs != threads * operations)
    die("big_touch: %ld mallocs, %ld frees, %ld expected", mallocs, frees, threads * operations);
  printf("ok name=big-touch threads=%ld slots=%ld ops=%ld frees=%ld secs=%.3f wall_ns_per_op=%.0f"
         " cpu_ns_per_op=%.0f ops_per_s=%.0f\n",
         threads, nslots, mallocs, frees, secs, secs * 1e9 / (double)mallocs, cpu * 1e9 / (double)mallocs,
         (double)mallocs / secs);
  return 0;
}
