/*
 * realloc_growth.c: buffers grown step by step with realloc, from a few bytes to
 * several MiB, then shrunk back.
 *
 * Models: string builders, growing vectors and read buffers that do not double but
 * append a little at a time. Each thread grows 8 buffers round-robin, so a buffer's
 * neighbour is usually live and in-place growth is not always possible. Below 4 KiB a
 * step adds 1..64 bytes; above, 1..25 %; the final size is 6 MiB. Then the buffers
 * are shrunk by 30 % per step down to 16 bytes and freed.
 *
 * Usage: realloc_growth [threads=2] [rounds=24] [--max-mib 6]
 * Checks: the contents are a position-dependent pattern. After every realloc the
 * bytes around the old end and a few random ones are checked, every 16th step the
 * whole kept prefix, and the whole buffer at its largest; any loss fails.
 * Prints: ok name=realloc-growth ... reallocs=N moved=N secs=S
 */
#include "common.h"

#include <pthread.h>

enum { NBUF = 8, SMALL_LIMIT = 4096 };

typedef struct {
  char *p;
  size_t size;
  uint64_t tag;
  long steps;
} buf_t;

typedef struct {
  long id, rounds;
  size_t max_size;
  rng_t rng;
  uint64_t reallocs, moved;
} worker_t;

static inline unsigned char byte_at(uint64_t tag, size_t i) {
  return (unsigned char)(pat_word(tag, i / 8) >> (8 * (i % 8)));
}

/* Writes the pattern over bytes [a, b) of p. */
static void range_fill(char *p, size_t a, size_t b, uint64_t tag) {
  size_t i = a;
  for (; i < b && i % 8 != 0; i++) p[i] = (char)byte_at(tag, i);
  for (; i + 8 <= b; i += 8) {
    uint64_t w = pat_word(tag, i / 8);
    memcpy(p + i, &w, 8);
  }
  for (; i < b; i++) p[i] = (char)byte_at(tag, i);
}

static int range_check(const char *p, size_t a, size_t b, uint64_t tag) {
  size_t i = a;
  for (; i < b && i % 8 != 0; i++) if ((unsigned char)p[i] != byte_at(tag, i)) return 0;
  for (; i + 8 <= b; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w != pat_word(tag, i / 8)) return 0;
  }
  for (; i < b; i++) if ((unsigned char)p[i] != byte_at(tag, i)) return 0;
  return 1;
}

/* Checks what survived a realloc to `kept` bytes: the full prefix every 16th step,
 * otherwise the last 64 kept bytes, the first 64 and four random bytes. */
static void check_kept(worker_t *w, buf_t *b, size_t kept) {
  int ok;
  if (b->steps % 16 == 0) {
    ok = range_check(b->p, 0, kept, b->tag);
  } else {
    size_t tail = kept > 64 ? kept - 64 : 0;
    ok = range_check(b->p, tail, kept, b->tag) && range_check(b->p, 0, kept < 64 ? kept : 64, b->tag);
    for (int k = 0; k < 4 && ok; k++) {
      size_t i = rng_next(&w->rng) % kept;
      ok = (unsigned char)b->p[i] == byte_at(b->tag, i);
    }
  }
  if (!ok) die("realloc_growth: contents lost after realloc to %zu bytes (thread %ld)", b->size, w->id);
}

static void resize(worker_t *w, buf_t *b, size_t new_size) {
  char *q = realloc(b->p, new_size);
  if (!q) die("realloc_growth: realloc(%zu) returned NULL", new_size);
  if (q != b->p) w->moved++;
  size_t kept = new_size < b->size ? new_size : b->size;
  size_t old = b->size;
  b->p = q;
  b->size = new_size;
  b->steps++;
  w->reallocs++;
  if (kept > 0) check_kept(w, b, kept);
  if (new_size > old) range_fill(b->p, old, new_size, b->tag);
}

static size_t grown(worker_t *w, size_t s) {
  if (s < SMALL_LIMIT) return s + rng_range(&w->rng, 1, 64);
  size_t next = s + s * rng_range(&w->rng, 1, 25) / 100;
  return next > w->max_size ? w->max_size : next;
}

static void one_round(worker_t *w, buf_t *bufs) {
  for (int i = 0; i < NBUF; i++) bufs[i] = (buf_t){ NULL, 0, rng_next(&w->rng), 0 };
  for (int growing = NBUF; growing > 0;) {
    growing = 0;
    for (int i = 0; i < NBUF; i++) {
      if (bufs[i].size >= w->max_size) continue;
      resize(w, &bufs[i], grown(w, bufs[i].size));
      growing++;
    }
  }
  for (int i = 0; i < NBUF; i++) {
    if (!range_check(bufs[i].p, 0, bufs[i].size, bufs[i].tag))
      die("realloc_growth: full buffer check failed (thread %ld)", w->id);
    while (bufs[i].size > 16) resize(w, &bufs[i], bufs[i].size * 7 / 10);
    free(bufs[i].p);
  }
}

static void *worker(void *arg) {
  worker_t *w = arg;
  buf_t bufs[NBUF];
  for (long r = 0; r < w->rounds; r++) one_round(w, bufs);
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 2);
  long rounds = arg_pos(argc, argv, 2, 24);
  long max_mib = arg_flag(argc, argv, "--max-mib", 6);
  if (threads < 1 || rounds < 1 || max_mib < 1) die("realloc_growth: bad arguments");
  worker_t *ws = calloc((size_t)threads, sizeof(worker_t));
  pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
  if (!ws || !tids) die("realloc_growth: calloc failed");

  uint64_t t0 = now_ns();
  for (long i = 0; i < threads; i++) {
    ws[i] = (worker_t){ .id = i, .rounds = rounds, .max_size = (size_t)max_mib << 20,
                        .rng = rng_seed(77 + (uint64_t)i) };
    if (pthread_create(&tids[i], NULL, worker, &ws[i]) != 0) die("realloc_growth: pthread_create");
  }
  uint64_t reallocs = 0, moved = 0;
  for (long i = 0; i < threads; i++) {
    pthread_join(tids[i], NULL);
    reallocs += ws[i].reallocs;
    moved += ws[i].moved;
  }
  double secs = secs_since(t0);
  printf("ok name=realloc-growth threads=%ld rounds=%ld reallocs=%llu moved=%llu secs=%.3f\n",
         threads, rounds, (unsigned long long)reallocs, (unsigned long long)moved, secs);
  free(ws);
  free(tids);
  return 0;
}
