/*
 * larson.c: a server simulation in the spirit of Larson and Krishnan's benchmark.
 *
 * Models: a server whose worker threads each own a table of live objects (requests,
 * sessions) and replace random entries again and again. After a fixed number of
 * operations a worker hands its whole table to a freshly created successor thread and
 * exits, so most objects are freed by a different thread than the one that allocated
 * them, often one that no longer exists.
 *
 * Usage: larson [threads=4] [generations=160] [--slots 2000] [--ops 40000]
 *   threads      independent chains of workers (one alive per chain at a time)
 *   generations  workers per chain; total operations = threads * generations * ops
 *
 * Checks: every object carries its tag in its first and last bytes and is checked
 * before it is freed; the allocation and free counts must match at the end.
 * Prints: ok name=larson ... ops_per_s=N
 */
#include "common.h"

#include <pthread.h>

enum { MIN_SIZE = 8, MAX_SIZE = 1000 };

typedef struct {
  slot_t *slots;
  long nslots, ops, generations, generation;
  rng_t rng;
  uint64_t allocs, frees;
} chain_t;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static long chains_done;

static void release_slot(slot_t *s, chain_t *c) {
  if (!s->ptr) return;
  if (!ends_check(s->ptr, s->size, s->tag))
    die("larson: object %p of %zu bytes was overwritten", s->ptr, s->size);
  free(s->ptr);
  s->ptr = NULL;
  c->frees++;
}

static void fill_slot(slot_t *s, chain_t *c) {
  s->size = rng_range(&c->rng, MIN_SIZE, MAX_SIZE);
  s->tag = rng_next(&c->rng);
  s->ptr = malloc(s->size);
  if (!s->ptr) die("larson: malloc(%zu) returned NULL", s->size);
  ends_stamp(s->ptr, s->size, s->tag);
  c->allocs++;
}

static void *worker(void *arg);

/* Hands the chain to a new detached thread, or reports the chain finished. */
static void pass_on(chain_t *c) {
  if (++c->generation < c->generations) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, worker, c) != 0) die("larson: pthread_create failed");
    pthread_attr_destroy(&attr);
    return;
  }
  pthread_mutex_lock(&done_lock);
  chains_done++;
  pthread_cond_signal(&done_cond);
  pthread_mutex_unlock(&done_lock);
}

static void *worker(void *arg) {
  chain_t *c = arg;
  for (long i = 0; i < c->ops; i++) {
    slot_t *s = &c->slots[rng_next(&c->rng) % (uint64_t)c->nslots];
    release_slot(s, c);
    fill_slot(s, c);
  }
  pass_on(c);
  return NULL;
}

static void start_chain(chain_t *c, long id, long nslots, long ops, long generations) {
  memset(c, 0, sizeof *c);
  c->nslots = nslots;
  c->ops = ops;
  c->generations = generations;
  c->rng = rng_seed(1000 + (uint64_t)id);
  c->slots = calloc((size_t)nslots, sizeof(slot_t));
  if (!c->slots) die("larson: calloc of the slot table failed");
  for (long i = 0; i < nslots; i++) fill_slot(&c->slots[i], c);
  c->generation = -1;
  pass_on(c);
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 4);
  long generations = arg_pos(argc, argv, 2, 160);
  long nslots = arg_flag(argc, argv, "--slots", 2000);
  long ops = arg_flag(argc, argv, "--ops", 40000);
  if (threads < 1 || generations < 1 || nslots < 1 || ops < 1) die("larson: bad arguments");

  chain_t *chains = calloc((size_t)threads, sizeof(chain_t));
  if (!chains) die("larson: calloc failed");
  uint64_t t0 = now_ns();
  for (long i = 0; i < threads; i++) start_chain(&chains[i], i, nslots, ops, generations);
  pthread_mutex_lock(&done_lock);
  while (chains_done < threads) pthread_cond_wait(&done_cond, &done_lock);
  pthread_mutex_unlock(&done_lock);
  double secs = secs_since(t0);

  uint64_t allocs = 0, frees = 0;
  for (long i = 0; i < threads; i++) {
    for (long j = 0; j < nslots; j++) release_slot(&chains[i].slots[j], &chains[i]);
    free(chains[i].slots);
    allocs += chains[i].allocs;
    frees += chains[i].frees;
  }
  free(chains);
  if (allocs != frees) die("larson: %llu allocations but %llu frees",
                           (unsigned long long)allocs, (unsigned long long)frees);
  double total_ops = (double)threads * (double)generations * (double)ops;
  printf("ok name=larson threads=%ld generations=%ld allocs=%llu frees=%llu secs=%.3f ops_per_s=%.0f\n",
         threads, generations, (unsigned long long)allocs, (unsigned long long)frees, secs,
         total_ops / secs);
  return 0;
}
