/*
 * stress_handoff.c: threads allocate blocks of random sizes (1 B to 1 MiB, skewed to
 * small), fill them with a pattern of (address, size, seed) and swap them into shared
 * slots; whatever a thread takes out of a slot (usually another thread's block) it
 * verifies and frees. Some operations use calloc (checked zeroed), realloc (prefix
 * checked) or posix_memalign (alignment checked).
 *
 * Usage: stress_handoff [THREADS [SECONDS]]   (defaults 8 and 3)
 * Prints "stress ok threads=N ops=N cross_thread_frees=N" and exits 0, or reports the
 * first corruption on stderr and exits 1.
 */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>

#define SLOTS 4096
#define MAX_SIZE ((size_t)1 << 20)

typedef struct {
  pthread_mutex_t lock;
  unsigned char *p;
  size_t n;
  uint64_t seed;
  int owner;
} slot_t;

static slot_t slots[SLOTS];
static atomic_int stop;
static atomic_ullong total_ops, cross_frees;

static void verify_and_free(slot_t *taken, int me) {
  if (!zt_check(taken->p, taken->n, taken->seed))
    ZT_FAIL("corrupt block %p size %zu (allocated by thread %d, freed by %d)", (void *)taken->p, taken->n, taken->owner, me);
  if (taken->owner != me) atomic_fetch_add_explicit(&cross_frees, 1, memory_order_relaxed);
  free(taken->p);
}

/* A fresh block, made by malloc, calloc or posix_memalign, filled with its pattern. */
static slot_t make_block(uint64_t *rng, int me) {
  slot_t b = {.n = zt_skewed_size(rng, MAX_SIZE), .seed = zt_rand(rng), .owner = me};
  unsigned kind = zt_rand(rng) % 20;
  if (kind == 0) {
    b.p = calloc(1, b.n);
    for (size_t k = 0; b.p && k < b.n; k += 61)
      if (b.p[k]) ZT_FAIL("calloc(%zu) not zeroed at %zu", b.n, k);
  } else if (kind == 1) {
    size_t align = (size_t)64 << (zt_rand(rng) % 7);
    void *p = NULL;
    if (posix_memalign(&p, align, b.n) != 0) p = NULL;
    if (p && (uintptr_t)p % align) ZT_FAIL("posix_memalign(%zu) gave %p", align, p);
    b.p = p;
  } else {
    b.p = malloc(b.n);
  }
  if (!b.p) ZT_FAIL("allocation of %zu bytes failed", b.n);
  zt_fill(b.p, b.n, b.seed);
  return b;
}

/* Grows or shrinks a block taken from a slot, checking the kept prefix, then refills it. */
static void reallocate(slot_t *b, uint64_t *rng, int me) {
  if (!zt_check(b->p, b->n, b->seed)) ZT_FAIL("corrupt block %p size %zu before realloc", (void *)b->p, b->n);
  size_t n = zt_skewed_size(rng, MAX_SIZE), keep = n < b->n ? n : b->n;
  unsigned char *copy = malloc(keep ? keep : 1);
  memcpy(copy, b->p, keep);
  unsigned char *q = realloc(b->p, n);
  if (!q) ZT_FAIL("realloc to %zu failed", n);
  if (memcmp(copy, q, keep) != 0) ZT_FAIL("realloc %zu -> %zu lost the contents", b->n, n);
  free(copy);
  *b = (slot_t){.p = q, .n = n, .seed = zt_rand(rng), .owner = me};
  zt_fill(q, n, b->seed);
}

static void *worker(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t rng = zt_seed_for((uint64_t)me), ops = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    slot_t fresh = make_block(&rng, me), taken;
    slot_t *s = &slots[zt_rand(&rng) % SLOTS];
    pthread_mutex_lock(&s->lock);
    taken = *s;
    s->p = fresh.p; s->n = fresh.n; s->seed = fresh.seed; s->owner = fresh.owner;
    pthread_mutex_unlock(&s->lock);
    if (taken.p && zt_rand(&rng) % 10 == 0) {
      reallocate(&taken, &rng, me);
      if (!zt_check(taken.p, taken.n, taken.seed)) ZT_FAIL("block changed after realloc");
      free(taken.p);
    } else if (taken.p) {
      verify_and_free(&taken, me);
    }
    ops++;
  }
  atomic_fetch_add(&total_ops, ops);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 8;
  double seconds = argc > 2 ? atof(argv[2]) : 3;
  pthread_t tids[256];
  if (threads < 1 || threads > 256) ZT_FAIL("bad thread count");
  for (int i = 0; i < SLOTS; i++) pthread_mutex_init(&slots[i].lock, NULL);
  for (int i = 0; i < threads; i++)
    if (pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)i)) ZT_FAIL("pthread_create");
  struct timespec nap = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&nap, NULL);
  atomic_store(&stop, 1);
  for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  for (int i = 0; i < SLOTS; i++)
    if (slots[i].p) verify_and_free(&slots[i], -1);
  printf("stress ok threads=%d ops=%llu cross_thread_frees=%llu\n", threads,
         (unsigned long long)total_ops, (unsigned long long)cross_frees);
  return 0;
}
