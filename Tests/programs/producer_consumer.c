/*
 * producer_consumer.c: 4 producer threads allocate small objects (16..512 B, most of them
 * small), fill each with its (address, size, seed) pattern and hand them in batches of
 * 256 through one bounded, lock-protected queue (condition variables, no spinning) to 4
 * consumer threads, which verify every object and free it. Producers never free and
 * consumers never allocate, so every object (and every batch record) is freed by a
 * thread other than the one that allocated it.
 *
 * Usage: producer_consumer count OBJECTS    (stop after OBJECTS objects)
 *        producer_consumer time SECONDS     (stop after SECONDS; a sampling thread reads
 *                                             VmRSS and VmHWM every second)
 * In time mode one line "sample t=S rss_kb=N hwm_kb=N" is printed per second first.
 * The last line is "pc ok mode=M objects=N seconds=S mallocs=N frees=N remote_frees=N
 * owner_signals=N ...": the zm_stats deltas between just before the threads start and
 * just after they are all joined. A corrupt object exits 1 with a message on stderr.
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"
#include <pthread.h>
#include <stdatomic.h>

#define PRODUCERS 4
#define CONSUMERS 4
#define BATCH 256
#define QUEUE_CAP 64
#define MAX_SAMPLES 4000

typedef struct {
  uint64_t seed;
  int count;
  int producer;
  struct { void *p; uint32_t n; } obj[BATCH];
} batch_t;

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static batch_t *queue[QUEUE_CAP];
static int qhead, qlen;

static long long target_objects;          /* count mode */
static atomic_llong claimed;              /* count mode: objects claimed by producers */
static double deadline;                   /* time mode */
static int time_mode;
static atomic_llong produced, consumed;
static atomic_int sampler_stop;

static long samples_rss[MAX_SAMPLES], samples_hwm[MAX_SAMPLES];
static int nsamples;

static void push(batch_t *b) {
  pthread_mutex_lock(&qlock);
  while (qlen == QUEUE_CAP) pthread_cond_wait(&not_full, &qlock);
  queue[(qhead + qlen) % QUEUE_CAP] = b;
  qlen++;
  pthread_cond_signal(&not_empty);
  pthread_mutex_unlock(&qlock);
}

static batch_t *pop(void) {
  pthread_mutex_lock(&qlock);
  while (qlen == 0) pthread_cond_wait(&not_empty, &qlock);
  batch_t *b = queue[qhead];
  qhead = (qhead + 1) % QUEUE_CAP;
  qlen--;
  pthread_cond_signal(&not_full);
  pthread_mutex_unlock(&qlock);
  return b;
}

/* 16..512 B: 60% up to 64 B, 30% up to 256 B, 10% up to 512 B. */
static uint32_t object_size(uint64_t *rng) {
  uint64_t r = zt_rand(rng), pick = r % 10, v = zt_rand(rng);
  uint32_t lo = 16, hi = pick < 6 ? 64 : pick < 9 ? 256 : 512;
  return lo + (uint32_t)(v % (hi - lo + 1));
}

/* How many objects the next batch may hold; 0 when the producer is done. */
static int claim(void) {
  if (time_mode) return zt_now() < deadline ? BATCH : 0;
  long long first = atomic_fetch_add(&claimed, BATCH);
  if (first >= target_objects) return 0;
  return target_objects - first < BATCH ? (int)(target_objects - first) : BATCH;
}

static void *producer(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t rng = zt_seed_for(1000 + (uint64_t)me);
  for (int n; (n = claim()) > 0;) {
    batch_t *b = malloc(sizeof *b);
    if (!b) ZT_FAIL("malloc of a batch record failed");
    b->seed = zt_rand(&rng);
    b->count = n;
    b->producer = me;
    for (int i = 0; i < n; i++) {
      uint32_t size = object_size(&rng);
      void *p = malloc(size);
      if (!p) ZT_FAIL("malloc(%u) failed", size);
      zt_fill(p, size, b->seed + (uint64_t)i);
      b->obj[i].p = p;
      b->obj[i].n = size;
    }
    atomic_fetch_add_explicit(&produced, n, memory_order_relaxed);
    push(b);
  }
  return NULL;
}

static void *consumer(void *arg) {
  int me = (int)(intptr_t)arg;
  long long mine = 0;
  for (batch_t *b; (b = pop()) != NULL;) {
    for (int i = 0; i < b->count; i++) {
      if (!zt_check(b->obj[i].p, b->obj[i].n, b->seed + (uint64_t)i))
        ZT_FAIL("corrupt object %p size %u (producer %d, consumer %d)", b->obj[i].p, b->obj[i].n, b->producer, me);
      free(b->obj[i].p);
    }
    mine += b->count;
    free(b);
  }
  atomic_fetch_add_explicit(&consumed, mine, memory_order_relaxed);
  return NULL;
}

/* Time mode: reads VmRSS and VmHWM once a second (absolute deadlines, no drift). */
static void *sampler(void *arg) {
  (void)arg;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!atomic_load(&sampler_stop) && nsamples < MAX_SAMPLES) {
    next.tv_sec += 1;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {}
    if (atomic_load(&sampler_stop)) break;
    samples_rss[nsamples] = pm_status_kb("VmRSS:");
    samples_hwm[nsamples] = pm_status_kb("VmHWM:");
    nsamples++;
  }
  return NULL;
}

static void *idle(void *arg) { return arg; }

int main(int argc, char **argv) {
  if (argc != 3) ZT_FAIL("usage: producer_consumer count OBJECTS | time SECONDS");
  time_mode = strcmp(argv[1], "time") == 0;
  if (!time_mode && strcmp(argv[1], "count") != 0) ZT_FAIL("bad mode %s", argv[1]);
  double seconds = atof(argv[2]);
  target_objects = atoll(argv[2]);
  pthread_t producers[PRODUCERS], consumers[CONSUMERS], sampling;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);

  /* glibc keeps the stacks of joined threads (up to 40 MiB) with their DTV, a calloc'd
   * block it frees only when it drops the stack. Creating and joining as many threads
   * first fills that cache, so the measured threads reuse cached stacks and glibc's own
   * blocks do not show up as unbalanced mallocs in the delta below. One more stack is for
   * zonemalloc's background thread (256 KiB too), which starts during the measured run,
   * once the program's second thread allocates: it takes a cached stack as well. */
  pthread_t warm[PRODUCERS + CONSUMERS + 2];
  for (int i = 0; i < PRODUCERS + CONSUMERS + 2; i++)
    if (pthread_create(&warm[i], &attr, idle, NULL)) ZT_FAIL("pthread_create");
  for (int i = 0; i < PRODUCERS + CONSUMERS + 2; i++) pthread_join(warm[i], NULL);

  /* The sampler exists before the first snapshot and is joined after the last one. */
  if (time_mode && pthread_create(&sampling, &attr, sampler, NULL)) ZT_FAIL("pthread_create");
  zm_stats_t before, after;
  zm_stats(&before);
  double start = zt_now();
  deadline = start + seconds;
  for (int i = 0; i < CONSUMERS; i++)
    if (pthread_create(&consumers[i], &attr, consumer, (void *)(intptr_t)i)) ZT_FAIL("pthread_create");
  for (int i = 0; i < PRODUCERS; i++)
    if (pthread_create(&producers[i], &attr, producer, (void *)(intptr_t)i)) ZT_FAIL("pthread_create");
  for (int i = 0; i < PRODUCERS; i++) pthread_join(producers[i], NULL);
  for (int i = 0; i < CONSUMERS; i++) push(NULL); /* one end marker per consumer */
  for (int i = 0; i < CONSUMERS; i++) pthread_join(consumers[i], NULL);
  double elapsed = zt_now() - start;
  zm_stats(&after);
  if (time_mode) {
    atomic_store(&sampler_stop, 1);
    pthread_join(sampling, NULL);
  }

  long long made = atomic_load(&produced), freed = atomic_load(&consumed);
  if (made != freed) ZT_FAIL("%lld objects produced but %lld consumed", made, freed);
  if (!time_mode && made != target_objects) ZT_FAIL("%lld objects produced, %lld asked", made, target_objects);
  for (int i = 0; i < nsamples; i++) printf("sample t=%d rss_kb=%ld hwm_kb=%ld\n", i + 1, samples_rss[i], samples_hwm[i]);
  printf("pc ok mode=%s objects=%lld seconds=%.0f ms=%.0f mallocs=%llu frees=%llu remote_frees=%llu "
         "owner_signals=%llu allocated_before=%llu allocated_after=%llu mapped_after=%llu threads_live=%llu\n",
         argv[1], made, elapsed, elapsed * 1000,
         PM_STATS_DELTA(after, before, malloc_count), PM_STATS_DELTA(after, before, free_count),
         PM_STATS_DELTA(after, before, remote_frees), PM_STATS_DELTA(after, before, owner_signals),
         (unsigned long long)before.allocated, (unsigned long long)after.allocated,
         (unsigned long long)after.mapped, (unsigned long long)after.threads_live);
  return 0;
}
