/*
 * idle_release.c: a program that frees all of its big blocks and then goes idle gets
 * its resident memory back.
 *
 * It reads its baseline RSS (/proc/self/statm), allocates 256 MiB in big blocks of
 * 64 KiB .. 4 MiB, writes a stamp into every page, verifies every page and frees every
 * block, then:
 *   wait DEADLINE_MS  polls RSS every 10 ms until it is back within SLACK (8 MiB) of the
 *                     baseline or DEADLINE_MS passed, and reports when that happened
 *                     (released_ms=-1 if it never did), and how many threads the process
 *                     had meanwhile (threads_max, from /proc/self/status);
 *   threaded DEADLINE_MS  the same, with a second thread of the program's own that
 *                     allocated once and then waits (so the allocator may run its
 *                     background thread);
 *   nobg SLEEP_MS     (for ZONEMALLOC_BACKGROUND=0) sleeps SLEEP_MS, reads zm_stats and
 *                     RSS, then calls malloc_trim(0) and reads them again.
 * Last line: "idle ok mode=M baseline_kb=N peak_kb=N after_free_kb=N lazy_after_free=B ..."
 * with the readings named below.
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#define TOTAL ((size_t)256 << 20)
#define MAX_BLOCKS 8192
#define PAGE 4096
#define SLACK_KB (8 * 1024)

static struct { unsigned char *p; size_t n; } blocks[MAX_BLOCKS];

/* The program's second thread: allocates once, then waits for the process to end. */
static int companion_pipe[2];
static void *companion(void *unused) {
  (void)unused;
  free(malloc(100));
  char c;
  while (read(companion_pipe[0], &c, 1) < 0 && errno == EINTR) {}
  return NULL;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static uint64_t page_stamp(const void *p, size_t page) { return zt_mix((uint64_t)(uintptr_t)p + page * 0x9e37ULL); }

int main(int argc, char **argv) {
  if (argc != 3) ZT_FAIL("usage: idle_release wait|threaded DEADLINE_MS | nobg SLEEP_MS");
  int nobg = strcmp(argv[1], "nobg") == 0, threaded = strcmp(argv[1], "threaded") == 0;
  if (!nobg && !threaded && strcmp(argv[1], "wait") != 0) ZT_FAIL("bad mode %s", argv[1]);
  if (threaded) {
    pthread_t t;
    if (pipe(companion_pipe) != 0 || pthread_create(&t, NULL, companion, NULL) != 0) ZT_FAIL("companion thread");
  }
  long ms = atol(argv[2]);
  zm_stats_t s;
  zm_stats(&s); /* the library is up; nothing of the program's is allocated yet */
  long baseline = pm_statm_rss_kb();

  uint64_t rng = zt_seed_for(11);
  size_t total = 0;
  int count = 0;
  while (total < TOTAL) {
    if (count == MAX_BLOCKS) ZT_FAIL("too many blocks");
    /* 64 KiB .. 4 MiB, log-uniform: 2^16 .. 2^22 */
    size_t n = ((size_t)1 << (16 + zt_rand(&rng) % 6)) + (size_t)(zt_rand(&rng) % ((size_t)1 << 16));
    if (n > ((size_t)4 << 20)) n = (size_t)4 << 20;
    unsigned char *p = malloc(n);
    if (!p) ZT_FAIL("malloc(%zu) failed", n);
    for (size_t k = 0; k < n / PAGE; k++) { uint64_t v = page_stamp(p, k); memcpy(p + k * PAGE, &v, 8); }
    blocks[count].p = p;
    blocks[count].n = n;
    count++;
    total += n;
  }
  long peak = pm_statm_rss_kb();
  for (int i = 0; i < count; i++) {
    for (size_t k = 0; k < blocks[i].n / PAGE; k++) {
      uint64_t v;
      memcpy(&v, blocks[i].p + k * PAGE, 8);
      if (v != page_stamp(blocks[i].p, k)) ZT_FAIL("block %p page %zu lost its stamp", (void *)blocks[i].p, k);
    }
    free(blocks[i].p);
  }
  double freed_at = zt_now();
  long after_free = pm_statm_rss_kb();
  zm_stats(&s);
  unsigned long long lazy_after_free = s.lazy_cached;

  if (!nobg) {
    long released_ms = -1, rss = after_free, threads_max = 0;
    for (;;) {
      long threads = pm_status_kb("Threads:");
      if (threads > threads_max) threads_max = threads;
      rss = pm_statm_rss_kb();
      double waited = (zt_now() - freed_at) * 1000;
      if (rss <= baseline + SLACK_KB) { released_ms = (long)waited; break; }
      if (waited > ms) break;
      sleep_ms(10);
    }
    zm_stats(&s);
    printf("idle ok mode=%s blocks=%d total=%zu baseline_kb=%ld peak_kb=%ld after_free_kb=%ld lazy_after_free=%llu "
           "released_ms=%ld final_kb=%ld lazy_end=%llu purges=%llu munmaps=%llu threads_max=%ld\n",
           argv[1], count, total, baseline, peak, after_free, lazy_after_free, released_ms, rss,
           (unsigned long long)s.lazy_cached, (unsigned long long)s.purges, (unsigned long long)s.munmap_calls,
           threads_max);
    return 0;
  }

  sleep_ms(ms);
  long after_sleep = pm_statm_rss_kb();
  zm_stats(&s);
  unsigned long long lazy_after_sleep = s.lazy_cached;
  int trimmed = malloc_trim(0);
  long after_trim = pm_statm_rss_kb();
  zm_stats(&s);
  printf("idle ok mode=nobg blocks=%d total=%zu baseline_kb=%ld peak_kb=%ld after_free_kb=%ld lazy_after_free=%llu "
         "after_sleep_kb=%ld lazy_after_sleep=%llu trim=%d after_trim_kb=%ld lazy_after_trim=%llu\n",
         count, total, baseline, peak, after_free, lazy_after_free, after_sleep, lazy_after_sleep, trimmed,
         after_trim, (unsigned long long)s.lazy_cached);
  return 0;
}
