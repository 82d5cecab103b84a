/*
 * storm_half.c: a storm of short-lived threads, each freeing half of its memory through
 * other threads.
 *
 * THREADS workers run, at most WAVE at a time. Each allocates 1 MiB in small objects
 * (32 B .. 2 KiB, half of them up to 256 B), stamps each one (a header naming its size
 * and a key derived from its address, a pattern over its first bytes, a tail word),
 * hands every other object to one of 2 long-lived reaper threads (a whole list per
 * worker, through a lock-protected queue with a condition variable), frees the rest
 * itself and exits. Reapers verify and free what they get, often after the owner exited.
 *
 * At most WAVE workers' memory is live at once: the main thread takes a slot (a
 * semaphore) before starting a worker, and the slot is given back only when both the
 * worker and the reaper are done with that worker's objects; the main thread also joins
 * worker i - WAVE before starting worker i, so at most WAVE workers exist. Nothing spins.
 *
 * Usage: storm_half [THREADS [WAVE]]   (defaults 20000 and 512)
 * Last line: "storm_half ok threads=N wave=N objects=N remote=N working_set=B mapped=B
 * peak_mapped=B teardowns=N zones_created=N threads_live=N ..." (zm_stats deltas or
 * values after every thread was joined; peak_mapped is sampled every 64 starts), then,
 * for information, what zm_purge() released and "mapped_after_purge".
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#define PER_WORKER ((size_t)1 << 20)
#define REAPERS 2
#define BODY_CHECKED 96

typedef struct object {
  struct object *next;
  uint64_t size;
  uint64_t key;
} object_t;

typedef struct job {
  int id;
  atomic_int refs;             /* the worker and the reaper */
  object_t *handed;            /* the half given to a reaper */
  size_t handed_count;
  struct job *qnext;
} job_t;

static job_t *jobs;
static sem_t slots;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static job_t *qfirst, *qlast;
static int reapers_stop;
static atomic_llong objects_total, reaped_total;

static void stamp(object_t *o, size_t n, uint64_t seed) {
  o->next = NULL;
  o->size = n;
  o->key = zt_pattern_key(o, n, seed);
  size_t body = n - sizeof *o - 8, checked = body < BODY_CHECKED ? body : BODY_CHECKED;
  zt_fill((char *)(o + 1), checked, o->key);
  uint64_t tail = o->key ^ 0xfeedfacecafebeefULL;
  memcpy((char *)o + n - 8, &tail, 8);
}

static void verify_and_free(object_t *o, uint64_t seed, const char *who) {
  size_t n = o->size;
  uint64_t tail;
  if (n < sizeof *o + 8 || n > 2048 || o->key != zt_pattern_key(o, n, seed))
    ZT_FAIL("corrupt header of object %p (size field %zu), freed by %s", (void *)o, n, who);
  size_t body = n - sizeof *o - 8, checked = body < BODY_CHECKED ? body : BODY_CHECKED;
  memcpy(&tail, (char *)o + n - 8, 8);
  if (!zt_check((char *)(o + 1), checked, o->key) || tail != (o->key ^ 0xfeedfacecafebeefULL))
    ZT_FAIL("corrupt object %p size %zu, freed by %s", (void *)o, n, who);
  free(o);
}

static void release(job_t *j) {
  if (atomic_fetch_sub(&j->refs, 1) == 1) sem_post(&slots);
}

static size_t object_size(uint64_t *rng) {
  uint64_t pick = zt_rand(rng) & 1, v = zt_rand(rng);
  return pick ? 32 + (size_t)(v % (256 - 32 + 1)) : 257 + (size_t)(v % (2048 - 257 + 1));
}

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t rng = zt_seed_for((uint64_t)j->id), seed = (uint64_t)j->id;
  object_t *keep = NULL, *give = NULL;
  size_t total = 0, count = 0, given = 0;
  while (total < PER_WORKER) {
    size_t n = object_size(&rng);
    object_t *o = malloc(n);
    if (!o) ZT_FAIL("malloc(%zu) failed in worker %d", n, j->id);
    stamp(o, n, seed);
    if (count++ & 1) { o->next = give; give = o; given++; }
    else { o->next = keep; keep = o; }
    total += n;
  }
  j->handed = give;
  j->handed_count = given;
  pthread_mutex_lock(&qlock);
  if (qlast) qlast->qnext = j; else qfirst = j;
  qlast = j;
  pthread_cond_signal(&qcond);
  pthread_mutex_unlock(&qlock);
  while (keep) {
    object_t *next = keep->next;
    verify_and_free(keep, seed, "its owner");
    keep = next;
  }
  atomic_fetch_add_explicit(&objects_total, (long long)count, memory_order_relaxed);
  release(j);
  return NULL;
}

static void *reaper(void *arg) {
  (void)arg;
  long long mine = 0;
  for (;;) {
    pthread_mutex_lock(&qlock);
    while (!qfirst && !reapers_stop) pthread_cond_wait(&qcond, &qlock);
    job_t *j = qfirst;
    if (j) {
      qfirst = j->qnext;
      if (!qfirst) qlast = NULL;
    }
    pthread_mutex_unlock(&qlock);
    if (!j) break;
    size_t freed = 0;
    for (object_t *o = j->handed; o;) {
      object_t *next = o->next;
      verify_and_free(o, (uint64_t)j->id, "a reaper");
      o = next;
      freed++;
    }
    if (freed != j->handed_count) ZT_FAIL("worker %d handed %zu objects, reaper found %zu", j->id, j->handed_count, freed);
    mine += (long long)freed;
    release(j);
  }
  atomic_fetch_add_explicit(&reaped_total, mine, memory_order_relaxed);
  return NULL;
}

int main(int argc, char **argv) {
  int total = argc > 1 ? atoi(argv[1]) : 20000, wave = argc > 2 ? atoi(argv[2]) : 512;
  if (total < 1 || wave < 1) ZT_FAIL("bad arguments");
  zm_stats_t before, now, after;
  zm_stats(&before);
  jobs = calloc((size_t)total, sizeof *jobs);
  pthread_t *tids = calloc((size_t)wave, sizeof *tids), reapers[REAPERS];
  if (!jobs || !tids) ZT_FAIL("calloc failed");
  if (sem_init(&slots, 0, (unsigned)wave)) ZT_FAIL("sem_init");
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (int i = 0; i < REAPERS; i++)
    if (pthread_create(&reapers[i], &attr, reaper, NULL)) ZT_FAIL("pthread_create");

  unsigned long long peak_mapped = 0;
  double start = zt_now();
  for (int i = 0; i < total; i++) {
    while (sem_wait(&slots) != 0) {}
    if (i >= wave) pthread_join(tids[i % wave], NULL);
    jobs[i].id = i;
    atomic_init(&jobs[i].refs, 2);
    if (pthread_create(&tids[i % wave], &attr, worker, &jobs[i])) ZT_FAIL("pthread_create %d", i);
    if (i % 64 == 0) {
      zm_stats(&now);
      if (now.mapped > peak_mapped) peak_mapped = now.mapped;
    }
  }
  for (int i = total > wave ? total - wave : 0; i < total; i++) pthread_join(tids[i % wave], NULL);
  pthread_mutex_lock(&qlock);
  reapers_stop = 1;
  pthread_cond_broadcast(&qcond);
  pthread_mutex_unlock(&qlock);
  for (int i = 0; i < REAPERS; i++) pthread_join(reapers[i], NULL);
  double elapsed = zt_now() - start;
  if (qfirst) ZT_FAIL("jobs left in the reaper queue");

  /* The main thread can still allocate normally after the storm. */
  uint64_t rng = zt_seed_for(7);
  object_t *list = NULL;
  for (int i = 0; i < 2000; i++) {
    size_t n = object_size(&rng);
    object_t *o = malloc(n);
    if (!o) ZT_FAIL("malloc after the storm failed");
    stamp(o, n, 7);
    o->next = list;
    list = o;
  }
  while (list) { object_t *next = list->next; verify_and_free(list, 7, "main"); list = next; }
  free(jobs);
  free(tids);
  zm_stats(&after);
  if (after.mapped > peak_mapped) peak_mapped = after.mapped;

  zm_stats_t purged;
  size_t released = zm_purge();
  zm_stats(&purged);

  long long objects = atomic_load(&objects_total), reaped = atomic_load(&reaped_total);
  printf("storm_half ok threads=%d wave=%d objects=%lld remote=%lld working_set=%llu mapped=%llu "
         "peak_mapped=%llu allocated=%llu teardowns=%llu zones_created=%llu threads_live=%llu "
         "orphan_slabs=%llu remote_frees=%llu mallocs=%llu frees=%llu ms=%.0f vmhwm_kb=%ld "
         "purge_released=%zu mapped_after_purge=%llu\n",
         total, wave, objects, reaped, (unsigned long long)wave * PER_WORKER,
         (unsigned long long)after.mapped, peak_mapped, (unsigned long long)after.allocated,
         PM_STATS_DELTA(after, before, zone_teardowns), PM_STATS_DELTA(after, before, zones_created),
         (unsigned long long)after.threads_live, (unsigned long long)after.orphan_slabs,
         PM_STATS_DELTA(after, before, remote_frees), PM_STATS_DELTA(after, before, malloc_count),
         PM_STATS_DELTA(after, before, free_count), elapsed * 1000, pm_status_kb("VmHWM:"),
         released, (unsigned long long)purged.mapped);
  return 0;
}
