/*
 * big_churn.c: churn of big blocks, then calloc over dirtied cached blocks.
 *
 * THREADS threads (default 2) each keep 8 slots of live big blocks; ALLOCS allocations
 * in all (default 100000) replace the block of a random slot with a new one of a random
 * size from 32 KiB to 4 MiB (log-uniform). Every page of a new block gets a stamp
 * derived from (address, page), checked before the block is freed. At the end every
 * block is freed, so the zm_stats delta of free_count is the number of blocks, and that of
 * big_allocs the number of big frees (blocks above 512 KiB; smaller ones are spans, which
 * are never unmapped).
 *
 * Then the main thread checks calloc over reused memory: for several sizes it mallocs a
 * big block, fills it with 0xA5, frees it, and callocs the same size (and a smaller one),
 * which the lazy cache serves from the dirtied range; every byte must read zero.
 *
 * Usage: big_churn [ALLOCS [THREADS]]
 * Last line: "churn ok allocs=N frees=N big_allocs=N big_frees=N munmaps=N mmaps=N mremaps=N
 * big_reuses=N purges=N calloc_checked=N calloc_reuses=N ms=N".
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"
#include <pthread.h>

#define SLOTS 8
#define PAGE 4096
#define MAX_THREADS 16

static long per_thread;

static uint64_t page_stamp(const void *p, size_t page) { return zt_mix((uint64_t)(uintptr_t)p ^ (page << 40) ^ page); }

static size_t churn_size(uint64_t *rng) {
  /* 32 KiB .. 4 MiB: a power of two from 2^15 to 2^21, plus up to as much again */
  size_t base = (size_t)1 << (15 + zt_rand(rng) % 7);
  return base + (size_t)(zt_rand(rng) % base);
}

static void stamp(unsigned char *p, size_t n) {
  for (size_t k = 0; k * PAGE + 9 <= n; k++) { uint64_t v = page_stamp(p, k); memcpy(p + k * PAGE, &v, 8); }
  memset(p + n - 1, 0x5a, 1); /* the last byte too */
}

static void check_and_free(unsigned char *p, size_t n) {
  for (size_t k = 0; k * PAGE + 9 <= n; k++) {
    uint64_t v;
    memcpy(&v, p + k * PAGE, 8);
    if (v != page_stamp(p, k)) ZT_FAIL("block %p (%zu bytes) page %zu lost its stamp", (void *)p, n, k);
  }
  if (p[n - 1] != 0x5a) ZT_FAIL("block %p (%zu bytes) lost its last byte", (void *)p, n);
  free(p);
}

static void *worker(void *arg) {
  uint64_t rng = zt_seed_for((uint64_t)(uintptr_t)arg + 77);
  struct { unsigned char *p; size_t n; } slot[SLOTS] = {{0}};
  for (long i = 0; i < per_thread; i++) {
    int s = (int)(zt_rand(&rng) % SLOTS);
    if (slot[s].p) check_and_free(slot[s].p, slot[s].n);
    size_t n = churn_size(&rng);
    unsigned char *p = malloc(n);
    if (!p) ZT_FAIL("malloc(%zu) failed", n);
    stamp(p, n);
    slot[s].p = p;
    slot[s].n = n;
  }
  for (int s = 0; s < SLOTS; s++)
    if (slot[s].p) check_and_free(slot[s].p, slot[s].n);
  return NULL;
}

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

int main(int argc, char **argv) {
  long allocs = argc > 1 ? atol(argv[1]) : 100000;
  int threads = argc > 2 ? atoi(argv[2]) : 2;
  if (threads < 1 || threads > MAX_THREADS || allocs < threads) ZT_FAIL("bad arguments");
  per_thread = allocs / threads;
  pthread_t tids[MAX_THREADS];
  zm_stats_t before, after, calloc_before, calloc_after;
  zm_stats(&before);
  double start = zt_now();
  for (int i = 0; i < threads; i++)
    if (pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)i)) ZT_FAIL("pthread_create");
  for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  double elapsed = zt_now() - start;
  zm_stats(&after);

  /* calloc over dirtied blocks: the same size, then a smaller one carved from a dirty range */
  static const size_t sizes[] = {20 << 10, 40 << 10, 100000, 1 << 20, (3 << 20) + 123, 4 << 20};
  int checked = 0;
  zm_stats(&calloc_before);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    unsigned char *dirty = malloc(n);
    if (!dirty) ZT_FAIL("malloc(%zu) failed", n);
    memset(dirty, 0xa5, n);
    free(dirty);
    unsigned char *z = calloc(1, n);
    if (!z) ZT_FAIL("calloc(%zu) failed", n);
    if (!all_zero(z, n)) ZT_FAIL("calloc(%zu) after a dirtied free is not zero (%p, dirty block was %p)", n, (void *)z, (void *)dirty);
    memset(z, 0xa5, n);
    free(z);
    z = calloc(n / 2 / 16, 16);
    if (!z) ZT_FAIL("calloc(%zu) failed", n / 2);
    if (!all_zero(z, n / 2 / 16 * 16)) ZT_FAIL("calloc(%zu) inside a dirtied range is not zero", n / 2);
    free(z);
    checked += 2;
  }
  zm_stats(&calloc_after);

  unsigned long long big_allocs = PM_STATS_DELTA(after, before, big_allocs);
  printf("churn ok allocs=%ld threads=%d frees=%llu big_allocs=%llu big_frees=%llu munmaps=%llu mmaps=%llu mremaps=%llu "
         "big_reuses=%llu purges=%llu purge_max_step_ns=%llu calloc_checked=%d calloc_reuses=%llu "
         "allocated_end=%llu ms=%.0f\n",
         per_thread * threads, threads, PM_STATS_DELTA(after, before, free_count), big_allocs, big_allocs,
         PM_STATS_DELTA(after, before, munmap_calls),
         PM_STATS_DELTA(after, before, mmap_calls), PM_STATS_DELTA(after, before, mremap_calls),
         PM_STATS_DELTA(after, before, big_reuses), PM_STATS_DELTA(after, before, purges),
         (unsigned long long)after.purge_max_step_ns, checked,
         PM_STATS_DELTA(calloc_after, calloc_before, big_reuses), (unsigned long long)after.allocated, elapsed * 1000);
  return 0;
}
