/*
 * thread_pool.c: a pool of worker threads passing tasks and their blocks to each other.
 *
 * Models: a server built on a thread pool and a task queue (in the spirit of
 * rptest): a task allocates the data of a request (blocks of 16 B to 64 KiB, most of
 * them small) and hands it on to the next stage, which runs on another worker,
 * checks the data and frees it. So most frees are cross-thread, of blocks of mixed
 * sizes. A fixed number of tasks is in flight at any time (each task processed
 * starts exactly one successor until the total is reached), so the live set stays
 * bounded, as in a server at a steady load; the driver reports peak RSS.
 *
 * Each worker has a queue (mutex and condition variable). A worker takes a task from
 * its queue, checks and frees the blocks the task carries (allocated by another
 * worker), allocates 1..batch new blocks, and sends a new task carrying them to a
 * random other worker. The task record itself is a heap block, freed by the worker
 * that receives it. Sizes: 70 % 16..512 B, 25 % 512 B..8 KiB, 5 % 8..64 KiB, each
 * log-uniform within its band.
 *
 * Usage: thread_pool [workers=4] [tasks=2000000] [--inflight 512] [--batch 32]
 * Checks: blocks under 4 KiB carry their tag in their first and last bytes, bigger
 * ones page stamps, all checked before free; tasks processed == tasks asked for,
 * blocks allocated == blocks freed.
 * Prints: ok name=thread-pool workers=N tasks=N blocks=N cross_thread_frees=N secs=S
 *         tasks_per_s=N [zm_remote_frees= zm_owner_signals=]
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

enum { STAMP_PAGES_FROM = 4096 };

typedef struct {
  int count;
  int from;             /* the worker that allocated the blocks (-1: the main thread) */
  slot_t blocks[];
} task_t;

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t ready;
  task_t **ring;        /* capacity inflight: every task in flight fits in one queue */
  long head, len;
} queue_t;

typedef struct {
  long id;
  rng_t rng;
  uint64_t processed, allocs, frees, cross;
} worker_t;

static queue_t *queues;
static long nworkers, inflight, batch, total_tasks;
static atomic_long tasks_created, tasks_done;
static atomic_int stopping;

static size_t pick_size(rng_t *r) {
  uint64_t roll = rng_next(r) % 100;
  if (roll < 70) return rng_log_range(r, 16, 512);
  if (roll < 95) return rng_log_range(r, 513, 8 << 10);
  return rng_log_range(r, (8 << 10) + 1, 64 << 10);
}

static void stamp(slot_t *s) {
  if (s->size < STAMP_PAGES_FROM) ends_stamp(s->ptr, s->size, s->tag);
  else page_stamp(s->ptr, s->size, s->tag);
}

static int intact(const slot_t *s) {
  return s->size < STAMP_PAGES_FROM ? ends_check(s->ptr, s->size, s->tag) : page_check(s->ptr, s->size, s->tag);
}

/* ---- queues ------------------------------------------------------------------------ */

static void push(long to, task_t *t) {
  queue_t *q = &queues[to];
  pthread_mutex_lock(&q->lock);
  if (q->len == inflight) die("thread_pool: queue %ld overflowed", to);
  q->ring[(q->head + q->len) % inflight] = t;
  q->len++;
  pthread_cond_signal(&q->ready);
  pthread_mutex_unlock(&q->lock);
}

/* The next task for worker id, or NULL once every task is done. */
static task_t *pop(long id) {
  queue_t *q = &queues[id];
  pthread_mutex_lock(&q->lock);
  while (q->len == 0 && !atomic_load(&stopping)) pthread_cond_wait(&q->ready, &q->lock);
  task_t *t = NULL;
  if (q->len > 0) {
    t = q->ring[q->head];
    q->head = (q->head + 1) % inflight;
    q->len--;
  }
  pthread_mutex_unlock(&q->lock);
  return t;
}

static void stop_all(void) {
  atomic_store(&stopping, 1);
  for (long i = 0; i < nworkers; i++) {
    pthread_mutex_lock(&queues[i].lock);
    pthread_cond_broadcast(&queues[i].ready);
    pthread_mutex_unlock(&queues[i].lock);
  }
}

/* ---- tasks ------------------------------------------------------------------------- */

static task_t *make_task(rng_t *r, int from, uint64_t *allocs) {
  int count = (int)rng_range(r, 1, (uint64_t)batch);
  task_t *t = malloc(sizeof(task_t) + (size_t)count * sizeof(slot_t));
  if (!t) die("thread_pool: malloc of a task returned NULL");
  t->count = count;
  t->from = from;
  for (int i = 0; i < count; i++) {
    slot_t *s = &t->blocks[i];
    s->size = pick_size(r);
    s->tag = rng_next(r);
    s->ptr = malloc(s->size);
    if (!s->ptr) die("thread_pool: malloc(%zu) returned NULL", s->size);
    stamp(s);
  }
  *allocs += (uint64_t)count + 1;
  return t;
}

static void finish_task(worker_t *w, task_t *t) {
  for (int i = 0; i < t->count; i++) {
    if (!intact(&t->blocks[i]))
      die("thread_pool: block %p of %zu bytes was overwritten", t->blocks[i].ptr, t->blocks[i].size);
    free(t->blocks[i].ptr);
  }
  w->frees += (uint64_t)t->count + 1;
  if (t->from != w->id) w->cross += (uint64_t)t->count + 1;
  free(t);
}

static long other_worker(worker_t *w) {
  if (nworkers == 1) return 0;
  long k = (long)rng_range(&w->rng, 1, (uint64_t)nworkers - 1);
  return (w->id + k) % nworkers;
}

static void *worker(void *arg) {
  worker_t *w = arg;
  task_t *t;
  while ((t = pop(w->id)) != NULL) {
    finish_task(w, t);
    w->processed++;
    if (atomic_fetch_add(&tasks_created, 1) < total_tasks)
      push(other_worker(w), make_task(&w->rng, (int)w->id, &w->allocs));
    if (atomic_fetch_add(&tasks_done, 1) + 1 == total_tasks) stop_all();
  }
  return NULL;
}

/* ---- main ------------------------------------------------------------------------- */

static void print_zm_counters(void) {
  zm_stats_t st;
  if (!zm_snapshot(&st)) return;
  printf(" zm_remote_frees=%llu zm_owner_signals=%llu zm_free_count=%llu",
         (unsigned long long)st.remote_frees, (unsigned long long)st.owner_signals,
         (unsigned long long)st.free_count);
}

static void setup(worker_t *ws) {
  queues = calloc((size_t)nworkers, sizeof(queue_t));
  if (!queues) die("thread_pool: calloc failed");
  for (long i = 0; i < nworkers; i++) {
    pthread_mutex_init(&queues[i].lock, NULL);
    pthread_cond_init(&queues[i].ready, NULL);
    queues[i].ring = calloc((size_t)inflight, sizeof(task_t *));
    if (!queues[i].ring) die("thread_pool: calloc of a queue failed");
    ws[i] = (worker_t){ .id = i, .rng = rng_seed(7700 + (uint64_t)i) };
  }
}

int main(int argc, char **argv) {
  nworkers = arg_pos(argc, argv, 1, 4);
  total_tasks = arg_pos(argc, argv, 2, 2000000);
  inflight = arg_flag(argc, argv, "--inflight", 512);
  batch = arg_flag(argc, argv, "--batch", 32);
  if (nworkers < 1 || inflight < 1 || total_tasks < inflight || batch < 1) die("thread_pool: bad arguments");

  worker_t *ws = calloc((size_t)nworkers, sizeof(worker_t));
  pthread_t *tids = calloc((size_t)nworkers, sizeof(pthread_t));
  if (!ws || !tids) die("thread_pool: calloc failed");
  setup(ws);
  rng_t seed_rng = rng_seed(77);
  uint64_t seeded = 0;
  atomic_store(&tasks_created, inflight);
  for (long i = 0; i < inflight; i++) push(i % nworkers, make_task(&seed_rng, -1, &seeded));

  uint64_t t0 = now_ns();
  for (long i = 0; i < nworkers; i++)
    if (pthread_create(&tids[i], NULL, worker, &ws[i]) != 0) die("thread_pool: pthread_create");
  for (long i = 0; i < nworkers; i++) pthread_join(tids[i], NULL);
  double secs = secs_since(t0);

  uint64_t processed = 0, allocs = seeded, frees = 0, cross = 0;
  for (long i = 0; i < nworkers; i++) {
    processed += ws[i].processed;
    allocs += ws[i].allocs;
    frees += ws[i].frees;
    cross += ws[i].cross;
    if (queues[i].len != 0) die("thread_pool: %ld tasks left in queue %ld", queues[i].len, i);
  }
  if (processed != (uint64_t)total_tasks || allocs != frees)
    die("thread_pool: %llu of %ld tasks processed; %llu blocks allocated, %llu freed",
        (unsigned long long)processed, total_tasks, (unsigned long long)allocs, (unsigned long long)frees);
  printf("ok name=thread-pool workers=%ld tasks=%ld inflight=%ld blocks=%llu cross_thread_frees=%llu"
         " secs=%.3f tasks_per_s=%.0f", nworkers, total_tasks, inflight, (unsigned long long)allocs,
         (unsigned long long)cross, secs, (double)total_tasks / secs);
  print_zm_counters();
  printf("\n");
  return 0;
}
