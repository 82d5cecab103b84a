/*
 * xmalloc.c: producers and consumers, in the spirit of the xmalloc-test benchmark.
 *
 * Models: a pipeline where some threads create messages and other threads consume
 * and release them (network buffers, job objects). Every object is freed by a
 * different thread than the one that allocated it, which is the worst case for
 * allocators with thread-local heaps (remote frees). This is also the producer-
 * consumer benchmark whose zonemalloc counters (remote_frees, owner_signals) another
 * issue asks for.
 *
 * Usage: xmalloc [producers=4] [objects=10000000] [--consumers 4]
 *   objects   total objects made by all producers together
 *
 * Each producer fills batches of 64 objects (16..256 bytes) and hands each batch to
 * the consumers round-robin through bounded queues; consumers check and free them.
 * Checks: each object carries a tag in its first and last bytes from which the
 * consumer recomputes its size and producer; produced and consumed counts must match.
 * Prints: ok name=xmalloc ... objs_per_s=N [zm_malloc_count= zm_free_count=
 *         zm_remote_frees= zm_owner_signals=]
 */
#include "common.h"

#include <pthread.h>

enum { BATCH = 64, QUEUE_CAP = 32, MIN_SIZE = 16, MAX_SIZE = 256 };

typedef struct {
  int count;
  void *objs[BATCH];
} batch_t;

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  batch_t *ring[QUEUE_CAP];
  int head, len;
} queue_t;

static queue_t *queues;
static long nconsumers;
static long producers_left;
static pthread_mutex_t producers_lock = PTHREAD_MUTEX_INITIALIZER;

/* The size of an object follows from its tag, so consumers need no side table. */
static size_t size_of_tag(uint64_t tag) {
  uint64_t h = tag * 0x9E3779B97F4A7C15ull;
  return MIN_SIZE + (size_t)((h >> 40) % (MAX_SIZE - MIN_SIZE + 1));
}

static void queue_push(queue_t *q, batch_t *b) {
  pthread_mutex_lock(&q->lock);
  while (q->len == QUEUE_CAP) pthread_cond_wait(&q->not_full, &q->lock);
  q->ring[(q->head + q->len) % QUEUE_CAP] = b;
  q->len++;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
}

/* Returns the next batch, or NULL once the queue is empty and all producers ended. */
static batch_t *queue_pop(queue_t *q) {
  pthread_mutex_lock(&q->lock);
  for (;;) {
    if (q->len > 0) break;
    pthread_mutex_lock(&producers_lock);
    long left = producers_left;
    pthread_mutex_unlock(&producers_lock);
    if (left == 0) { pthread_mutex_unlock(&q->lock); return NULL; }
    pthread_cond_wait(&q->not_empty, &q->lock);
  }
  batch_t *b = q->ring[q->head];
  q->head = (q->head + 1) % QUEUE_CAP;
  q->len--;
  pthread_cond_signal(&q->not_full);
  pthread_mutex_unlock(&q->lock);
  return b;
}

typedef struct {
  long id, objects;
  uint64_t made, consumed;
} role_t;

static batch_t *make_batch(role_t *r, uint64_t *seq, long count) {
  batch_t *b = malloc(sizeof *b);
  if (!b) die("xmalloc: malloc of a batch returned NULL");
  b->count = (int)count;
  for (long i = 0; i < count; i++) {
    uint64_t tag = ((uint64_t)r->id << 48) | (*seq)++;
    size_t n = size_of_tag(tag);
    void *p = malloc(n);
    if (!p) die("xmalloc: malloc(%zu) returned NULL", n);
    ends_stamp(p, n, tag);
    b->objs[i] = p;
  }
  r->made += (uint64_t)count;
  return b;
}

static void *producer(void *arg) {
  role_t *r = arg;
  uint64_t seq = 0;
  long target = r->id % nconsumers;
  for (long left = r->objects; left > 0; left -= BATCH) {
    batch_t *b = make_batch(r, &seq, left < BATCH ? left : BATCH);
    queue_push(&queues[target], b);
    target = (target + 1) % nconsumers;
  }
  pthread_mutex_lock(&producers_lock);
  producers_left--;
  pthread_mutex_unlock(&producers_lock);
  for (long i = 0; i < nconsumers; i++) {  /* wake consumers so they can see the end */
    pthread_mutex_lock(&queues[i].lock);
    pthread_cond_broadcast(&queues[i].not_empty);
    pthread_mutex_unlock(&queues[i].lock);
  }
  return NULL;
}

static void consume_batch(role_t *r, batch_t *b) {
  for (int i = 0; i < b->count; i++) {
    uint64_t tag;
    memcpy(&tag, b->objs[i], 8);
    size_t n = size_of_tag(tag);
    if (!ends_check(b->objs[i], n, tag)) die("xmalloc: object %p was overwritten", b->objs[i]);
    free(b->objs[i]);
  }
  r->consumed += (uint64_t)b->count;
  free(b);
}

static void *consumer(void *arg) {
  role_t *r = arg;
  batch_t *b;
  while ((b = queue_pop(&queues[r->id])) != NULL) consume_batch(r, b);
  return NULL;
}

static void print_zm_counters(void) {
  zm_stats_t st;
  if (!zm_snapshot(&st)) return;
  printf(" zm_malloc_count=%llu zm_free_count=%llu zm_remote_frees=%llu zm_owner_signals=%llu",
         (unsigned long long)st.malloc_count, (unsigned long long)st.free_count,
         (unsigned long long)st.remote_frees, (unsigned long long)st.owner_signals);
}

static void run_threads(role_t *roles, long nproducers, pthread_t *tids) {
  for (long i = 0; i < nconsumers; i++)
    if (pthread_create(&tids[i], NULL, consumer, &roles[i]) != 0) die("xmalloc: pthread_create");
  for (long i = 0; i < nproducers; i++)
    if (pthread_create(&tids[nconsumers + i], NULL, producer, &roles[nconsumers + i]) != 0)
      die("xmalloc: pthread_create");
  for (long i = 0; i < nconsumers + nproducers; i++) pthread_join(tids[i], NULL);
}

int main(int argc, char **argv) {
  long nproducers = arg_pos(argc, argv, 1, 4);
  long objects = arg_pos(argc, argv, 2, 10000000);
  nconsumers = arg_flag(argc, argv, "--consumers", 4);
  if (nproducers < 1 || nconsumers < 1 || objects < 1 || nproducers > 65535)
    die("xmalloc: bad arguments");

  queues = calloc((size_t)nconsumers, sizeof(queue_t));
  role_t *roles = calloc((size_t)(nconsumers + nproducers), sizeof(role_t));
  pthread_t *tids = calloc((size_t)(nconsumers + nproducers), sizeof(pthread_t));
  if (!queues || !roles || !tids) die("xmalloc: calloc failed");
  for (long i = 0; i < nconsumers; i++) {
    pthread_mutex_init(&queues[i].lock, NULL);
    pthread_cond_init(&queues[i].not_empty, NULL);
    pthread_cond_init(&queues[i].not_full, NULL);
    roles[i].id = i;
  }
  for (long i = 0; i < nproducers; i++) {
    roles[nconsumers + i].id = i;
    roles[nconsumers + i].objects = objects / nproducers + (i < objects % nproducers ? 1 : 0);
  }
  producers_left = nproducers;

  uint64_t t0 = now_ns();
  run_threads(roles, nproducers, tids);
  double secs = secs_since(t0);

  uint64_t made = 0, consumed = 0;
  for (long i = 0; i < nconsumers + nproducers; i++) {
    made += roles[i].made;
    consumed += roles[i].consumed;
  }
  if (made != (uint64_t)objects || consumed != made)
    die("xmalloc: %ld asked, %llu made, %llu consumed", objects,
        (unsigned long long)made, (unsigned long long)consumed);
  printf("ok name=xmalloc producers=%ld consumers=%ld objects=%llu secs=%.3f objs_per_s=%.0f",
         nproducers, nconsumers, (unsigned long long)made, secs, (double)made / secs);
  print_zm_counters();
  printf("\n");
  free(queues);
  free(roles);
  free(tids);
  return 0;
}
