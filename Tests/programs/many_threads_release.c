/*
 * many_threads_release.c: many threads fill a large heap of small blocks, hand 30% of
 * them to another thread, free everything, and then exit or wait; the process must get
 * its memory back without malloc_trim.
 *
 * Usage: many_threads_release THREADS TOTAL_MIB exit|idle DEADLINE_MS
 *   Each thread allocates TOTAL_MIB/THREADS MiB in blocks of 1 B .. 16 KiB (skewed to
 *   small, zt_skewed_size), writing every byte; 30% of its blocks go to the next thread.
 *   At the peak every thread waits; then each frees its own 70% and the 30% it was
 *   handed (remote frees). With `exit` the threads then exit; with `idle` they wait until
 *   the end. From the last free on, the main thread polls RSS every 20 ms until it is
 *   within 128 MiB of the baseline or DEADLINE_MS passed.
 * Last line: "release ok threads=N baseline_kb=N peak_kb=N after_free_kb=N
 *   at_1500_kb=N at_3000_kb=N released_ms=N final_kb=N threads_max=N orphan_slabs=N
 *   slabs_released=N" (released_ms=-1: never within the slack; zm fields 0 when the
 *   library is not zonemalloc).
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#define SLACK_KB (128 * 1024)
#define MAX_SIZE 16384

typedef struct {
  void **own, **handed; /* blocks kept, blocks handed to the next thread */
  size_t owns, hands;
} worker_t;

static int threads;
static size_t per_thread;
static int exiting;
static worker_t *workers;
static pthread_barrier_t filled, freed;
static pthread_mutex_t end_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t end_cond = PTHREAD_COND_INITIALIZER;
static int ended;

static void *worker(void *arg) {
  int me = (int)(intptr_t)arg;
  worker_t *w = &workers[me];
  uint64_t rng = zt_seed_for((uint64_t)me);
  size_t cap = per_thread / 64 + 1024;
  w->own = malloc(cap * sizeof(void *));
  w->handed = malloc(cap * sizeof(void *));
  if (!w->own || !w->handed) ZT_FAIL("cannot allocate the block arrays");
  for (size_t made = 0; made < per_thread && w->owns < cap && w->hands < cap;) {
    size_t n = zt_skewed_size(&rng, MAX_SIZE);
    unsigned char *p = malloc(n);
    if (!p) ZT_FAIL("malloc(%zu) failed", n);
    memset(p, 0xa5, n);
    if (zt_rand(&rng) % 10 < 3) w->handed[w->hands++] = p; else w->own[w->owns++] = p;
    made += n;
  }
  pthread_barrier_wait(&filled);
  pthread_barrier_wait(&filled); /* the main thread has read the peak */
  worker_t *from = &workers[(me + threads - 1) % threads];
  for (size_t i = 0; i < w->owns; i++) free(w->own[i]);
  for (size_t i = 0; i < from->hands; i++) free(from->handed[i]);
  pthread_barrier_wait(&freed);
  if (exiting) return NULL;
  pthread_mutex_lock(&end_lock);
  while (!ended) pthread_cond_wait(&end_cond, &end_lock);
  pthread_mutex_unlock(&end_lock);
  return NULL;
}

/* zm_stats when the library is zonemalloc, else zeros. */
static zm_stats_t stats(void) {
  zm_stats_t s = {0};
  void (*get)(zm_stats_t *) = (void (*)(zm_stats_t *))dlsym(RTLD_DEFAULT, "zm_stats");
  if (get) get(&s);
  return s;
}

int main(int argc, char **argv) {
  if (argc != 5) ZT_FAIL("usage: many_threads_release THREADS TOTAL_MIB exit|idle DEADLINE_MS");
  threads = atoi(argv[1]);
  per_thread = ((size_t)atol(argv[2]) << 20) / (size_t)threads;
  exiting = strcmp(argv[3], "exit") == 0;
  long deadline = atol(argv[4]);
  long baseline = pm_statm_rss_kb();
  workers = calloc((size_t)threads, sizeof *workers);
  pthread_t *ids = calloc((size_t)threads, sizeof *ids);
  pthread_barrier_init(&filled, NULL, (unsigned)threads + 1);
  pthread_barrier_init(&freed, NULL, (unsigned)threads + 1);
  for (int i = 0; i < threads; i++)
    if (pthread_create(&ids[i], NULL, worker, (void *)(intptr_t)i) != 0) ZT_FAIL("pthread_create failed");
  pthread_barrier_wait(&filled);
  long peak = pm_statm_rss_kb(), threads_max = pm_status_kb("Threads:");
  pthread_barrier_wait(&filled);
  pthread_barrier_wait(&freed);
  double t0 = zt_now();
  long after_free = pm_statm_rss_kb(), at1500 = -1, at3000 = -1, released = -1, rss = after_free;
  if (exiting)
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
  for (;;) {
    long ms = (long)((zt_now() - t0) * 1000);
    rss = pm_statm_rss_kb();
    long t = pm_status_kb("Threads:");
    if (t > threads_max) threads_max = t;
    if (ms >= 1500 && at1500 < 0) at1500 = rss;
    if (ms >= 3000 && at3000 < 0) at3000 = rss;
    if (released < 0 && rss <= baseline + SLACK_KB) released = ms;
    if (ms >= deadline) break;
    usleep(20000);
  }
  zm_stats_t s = stats();
  printf("release ok threads=%d baseline_kb=%ld peak_kb=%ld after_free_kb=%ld at_1500_kb=%ld at_3000_kb=%ld "
         "released_ms=%ld final_kb=%ld threads_max=%ld orphan_slabs=%llu slabs_released=%llu\n",
         threads, baseline, peak, after_free, at1500, at3000, released, rss, threads_max,
         (unsigned long long)s.orphan_slabs, (unsigned long long)s.slabs_released);
  pthread_mutex_lock(&end_lock);
  ended = 1;
  pthread_cond_broadcast(&end_cond);
  pthread_mutex_unlock(&end_lock);
  if (!exiting)
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
  return 0;
}
