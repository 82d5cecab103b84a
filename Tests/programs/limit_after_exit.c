/*
 * limit_after_exit.c: under a memory limit, what exited threads left cached is reused
 * before anything is refused.
 *
 * Run with ZONEMALLOC_LIMIT set (the test uses 64M). THREADS threads each fill their
 * share of the limit with small blocks (16 B .. 16 KiB) and big ones (1 .. 4 MiB), write
 * every byte, free everything and exit. Then the main thread allocates 1 MiB blocks and
 * 1 KiB blocks in turn (1 MiB, then 1024 x 1 KiB), writing every byte, until it holds
 * PERCENT% of the limit or an allocation fails.
 *
 * Usage: limit_after_exit THREADS PERCENT
 * Last line: "limit_after_exit ok limit=B wanted=B held=B failures=N refusals=N
 * orphan_slabs=N" (failures: allocations the threads saw refused; refusals: zm_stats
 * limit_refusals at the end).
 */
#include "common.h"
#include "zonemalloc.h"
#include <pthread.h>

#define MAX_BLOCKS 65536

static size_t share;
static _Atomic unsigned long failures;

static void *filler(void *arg) {
  uint64_t rng = zt_seed_for((uint64_t)(intptr_t)arg);
  static __thread void *blocks[MAX_BLOCKS];
  size_t n = 0, made = 0;
  while (made < share && n < MAX_BLOCKS) {
    size_t size = zt_rand(&rng) % 8 == 0 ? ((size_t)1 << 20) + zt_rand(&rng) % (3u << 20) : 16 + zt_rand(&rng) % 16369;
    if (made + size > share) break;
    unsigned char *p = malloc(size);
    if (!p) {
      failures++;
      break;
    }
    memset(p, 0x5a, size);
    blocks[n++] = p;
    made += size;
  }
  while (n > 0) free(blocks[--n]);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) ZT_FAIL("usage: limit_after_exit THREADS PERCENT");
  int threads = atoi(argv[1]);
  zm_stats_t s;
  zm_stats(&s);
  if (s.limit == 0) ZT_FAIL("run with ZONEMALLOC_LIMIT set");
  share = (size_t)(s.limit * 85 / 100) / (size_t)threads;
  pthread_t ids[64];
  for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, filler, (void *)(intptr_t)i);
  for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
  size_t wanted = (size_t)s.limit / 100 * (size_t)atoi(argv[2]), held = 0;
  while (held < wanted) {
    unsigned char *big = malloc(1 << 20);
    if (!big) break;
    memset(big, 1, 1 << 20);
    held += 1 << 20;
    int i = 0;
    for (; i < 1024 && held < wanted; i++) {
      unsigned char *small = malloc(1024);
      if (!small) break;
      memset(small, 2, 1024);
      held += 1024;
    }
    if (i < 1024 && held < wanted) break;
  }
  zm_stats(&s);
  printf("limit_after_exit ok limit=%llu wanted=%zu held=%zu failures=%lu refusals=%llu orphan_slabs=%llu\n",
         (unsigned long long)s.limit, wanted, held, (unsigned long)failures, (unsigned long long)s.limit_refusals,
         (unsigned long long)s.orphan_slabs);
  return 0;
}
