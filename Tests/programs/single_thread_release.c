/*
 * single_thread_release.c: a single-threaded program frees 8 MiB, sleeps, and then
 * calls unshare(CLONE_NEWUSER), which the kernel refuses (EINVAL) to a process with
 * more than one thread: the allocator must not have started a thread of its own, and
 * must have given the memory back without one.
 *
 * Usage: single_thread_release big | small
 *   big    one 8 MiB block;
 *   small  8 MiB in blocks of 64 .. 1024 B.
 * Every page is written. RSS (/proc/self/statm) is read before the allocation
 * (baseline), with the memory live (peak), right after the frees and after a 2 s sleep;
 * then the thread count (/proc/self/status) and the result of unshare(CLONE_NEWUSER).
 * Prints "release ok mode=M baseline_kb=N peak_kb=N after_free_kb=N after_sleep_kb=N
 * threads=N unshare=0|-1 errno=N" and exits 0 (the test judges the figures).
 */
#include "common.h"
#include "procmem.h"
#include <sched.h>
#include <unistd.h>

#define TOTAL ((size_t)8 << 20)

static void *blocks[TOTAL / 64];

/* Allocates TOTAL bytes as one block or as small ones, writing every byte; returns the count. */
static size_t allocate(int big) {
  if (big) {
    blocks[0] = malloc(TOTAL);
    if (!blocks[0]) ZT_FAIL("malloc(8 MiB) failed");
    memset(blocks[0], 0x5a, TOTAL);
    return 1;
  }
  uint64_t rng = zt_seed_for(5);
  size_t count = 0;
  for (size_t total = 0; total < TOTAL; count++) {
    size_t n = 64 + zt_rand(&rng) % 961;
    if (!(blocks[count] = malloc(n))) ZT_FAIL("malloc(%zu) failed", n);
    memset(blocks[count], 0x5a, n);
    total += n;
  }
  return count;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "big") != 0 && strcmp(argv[1], "small") != 0))
    ZT_FAIL("usage: single_thread_release big | small");
  free(malloc(1)); /* the allocator is set up before the baseline */
  long baseline = pm_statm_rss_kb();
  size_t count = allocate(strcmp(argv[1], "big") == 0);
  long peak = pm_statm_rss_kb();
  for (size_t i = 0; i < count; i++) free(blocks[i]);
  long after_free = pm_statm_rss_kb();
  sleep(2);
  long after_sleep = pm_statm_rss_kb();
  long threads = pm_status_kb("Threads:");
  int rc = unshare(CLONE_NEWUSER);
  int err = rc ? errno : 0;
  printf("release ok mode=%s blocks=%zu baseline_kb=%ld peak_kb=%ld after_free_kb=%ld after_sleep_kb=%ld threads=%ld "
         "unshare=%d errno=%d\n", argv[1], count, baseline, peak, after_free, after_sleep, threads, rc, err);
  return 0;
}
