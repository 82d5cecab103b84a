/*
 * key_destructor_storm.c: many short threads whose pthread key destructor allocates in
 * every destructor round, after zonemalloc's own key destructor has torn the thread's
 * zone down. Allocations there must not leave a zone (or its memory) behind per thread.
 * Linked with -lzonemalloc it reads zm_stats; built without it (zm_stats is a weak
 * reference) it runs under glibc for comparison, and prints threads_live=-1.
 *
 * Usage: key_destructor_storm alloc|plain THREADS WAVE
 *   Runs THREADS threads, WAVE at a time (each wave joined before the next starts). A
 *   thread allocates and frees 16 small blocks (256 B), allocates a medium one (100 KB)
 *   and waits at a barrier until the whole wave holds one (so the peak is the same from
 *   run to run: WAVE medium blocks), frees it, then sets its key to a 48-byte block. The key's destructor frees the value it is given
 *   and re-arms the key, so glibc calls it in each of its 4 destructor rounds:
 *     alloc  it allocates, writes and frees a small (200 B) and a medium (100 KB)
 *            block, and re-arms the key with a new 48-byte block (the one set in the
 *            last round is never freed: the program's own leak, 48 B per thread);
 *     plain  it allocates nothing (it frees the thread's block) and re-arms the key with a static object (the
 *            comparison run: the same thread churn, without destructor allocations).
 * Afterwards the main thread checks it can still allocate (a 1 MiB block, and small and
 * medium ones), then prints "destructors ok mode=M threads=N rounds=N threads_live=N
 * zones_created=N mapped=N allocated=N vmhwm_kb=N rss_kb=N ms=N" and exits 0.
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"
#include <pthread.h>

#pragma weak zm_stats

#define MEDIUM 100000

static pthread_key_t key;
static int allocating;
static long rounds; /* destructor calls, counted atomically */
static char static_value;
static int wave_start; /* the first thread of the current wave, for failure messages */

static void touch_and_free(size_t n) {
  char *p = malloc(n);
  if (!p) ZT_FAIL("malloc(%zu) failed after %d threads: %s", n, wave_start, strerror(errno));
  memset(p, 0x6b, n);
  free(p);
}

static void destructor(void *value) {
  __atomic_add_fetch(&rounds, 1, __ATOMIC_RELAXED);
  if (value != &static_value) free(value);
  if (!allocating) {
    pthread_setspecific(key, &static_value);
    return;
  }
  touch_and_free(200);
  touch_and_free(MEDIUM);
  void *next = malloc(48);
  if (!next) ZT_FAIL("malloc(48) failed in a key destructor after %d threads", wave_start);
  pthread_setspecific(key, next);
}

static pthread_barrier_t wave_barrier;

static void *worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 16; i++) touch_and_free(256);
  char *medium = malloc(MEDIUM);
  if (!medium) ZT_FAIL("malloc(%d) failed after %d threads: %s", MEDIUM, wave_start, strerror(errno));
  memset(medium, 0x6c, MEDIUM);
  pthread_barrier_wait(&wave_barrier);
  free(medium);
  void *value = malloc(48);
  if (!value) ZT_FAIL("malloc(48) failed");
  pthread_setspecific(key, value);
  return NULL;
}

static void storm(int total, int wave) {
  pthread_t *tids = malloc(sizeof *tids * (size_t)wave);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 << 10);
  for (int started = 0; started < total;) {
    int n = total - started < wave ? total - started : wave;
    pthread_barrier_init(&wave_barrier, NULL, (unsigned)n);
    wave_start = started;
    for (int i = 0; i < n; i++)
      if (pthread_create(&tids[i], &attr, worker, NULL)) ZT_FAIL("pthread_create after %d threads", started + i);
    for (int i = 0; i < n; i++) pthread_join(tids[i], NULL);
    pthread_barrier_destroy(&wave_barrier);
    started += n;
  }
  free(tids);
}

int main(int argc, char **argv) {
  if (argc != 4) ZT_FAIL("usage: key_destructor_storm alloc|plain THREADS WAVE");
  allocating = strcmp(argv[1], "alloc") == 0;
  if (!allocating && strcmp(argv[1], "plain") != 0) ZT_FAIL("bad mode %s", argv[1]);
  int total = atoi(argv[2]), wave = atoi(argv[3]);
  if (pthread_key_create(&key, destructor)) ZT_FAIL("pthread_key_create");
  double start = zt_now();
  storm(total, wave);
  long ms = (long)((zt_now() - start) * 1000);
  touch_and_free(1 << 20);
  touch_and_free(MEDIUM);
  touch_and_free(100);
  zm_stats_t s = {0};
  if (zm_stats) zm_stats(&s);
  else s.threads_live = (uint64_t)-1;
  printf("destructors ok mode=%s threads=%d rounds=%ld threads_live=%lld zones_created=%llu mapped=%llu allocated=%llu "
         "vmhwm_kb=%ld rss_kb=%ld ms=%ld\n",
         argv[1], total, __atomic_load_n(&rounds, __ATOMIC_RELAXED), (long long)s.threads_live,
         (unsigned long long)s.zones_created, (unsigned long long)s.mapped, (unsigned long long)s.allocated,
         pm_status_kb("VmHWM:"), pm_statm_rss_kb(), ms);
  return 0;
}
