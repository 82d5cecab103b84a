/*
 * as_limit.c: threads that allocate under an address-space limit (RLIMIT_AS, ulimit -v).
 * Built without -lzonemalloc; the tests run it once under glibc and once with zonemalloc
 * preloaded and compare the two runs, so everything printed is allocator-independent.
 *
 * Usage:
 *   as_limit threads N        N threads (256 KiB stacks), each allocating and freeing
 *                             1 MiB three ways: small blocks (16 B .. 4 KiB, all live at
 *                             once), medium blocks (64 KiB .. 256 KiB) and one big
 *                             block of 1 MiB; every block is filled and checked.
 *   as_limit setrlimit MIB N  allocates a small block (as any program has by then:
 *                             stdio, argument parsing), then sets RLIMIT_AS to MIB MiB
 *                             itself, then runs the same N threads. (With 8 MiB
 *                             stacks glibc itself fails here: its per-thread arenas
 *                             reserve 64 MiB each, and pthread_create gets EAGAIN.)
 * Prints "as_limit ok mode=M threads=N sum=S" (S a checksum over what the threads read
 * back) and exits 0; a failed malloc or pthread_create prints the error and exits 1.
 */
#include "common.h"
#include <pthread.h>
#include <sys/resource.h>

#define MIB ((size_t)1 << 20)

/* Fills a block, checks it, and folds its size into the thread's checksum. */
static uint64_t use(void *p, size_t n, uint64_t seed) {
  if (!p) ZT_FAIL("malloc(%zu) failed: %s", n, strerror(errno));
  zt_fill(p, n, seed);
  if (!zt_check(p, n, seed)) ZT_FAIL("block %p of %zu bytes does not read back", p, n);
  return zt_mix(n ^ seed);
}

static uint64_t small_blocks(uint64_t *rng) {
  enum { MAX = 8192 };
  static __thread void *live[MAX];
  size_t total = 0, count = 0;
  uint64_t sum = 0;
  while (total < MIB && count < MAX) {
    size_t n = 16 + zt_rand(rng) % 4081;
    live[count] = malloc(n);
    sum += use(live[count++], n, *rng);
    total += n;
  }
  for (size_t i = 0; i < count; i++) free(live[i]);
  return sum;
}

static uint64_t medium_blocks(uint64_t *rng) {
  uint64_t sum = 0;
  for (size_t total = 0; total < MIB;) {
    size_t n = (64 << 10) + zt_rand(rng) % (192 << 10);
    void *p = malloc(n);
    sum += use(p, n, *rng);
    free(p);
    total += n;
  }
  return sum;
}

static void *worker(void *arg) {
  uint64_t rng = zt_seed_for((uint64_t)(uintptr_t)arg);
  uint64_t sum = small_blocks(&rng) + medium_blocks(&rng);
  void *big = malloc(MIB);
  sum += use(big, MIB, rng);
  free(big);
  return (void *)(uintptr_t)sum;
}

static uint64_t run_threads(int n) {
  pthread_t tids[64];
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 << 10);
  if (n > 64) ZT_FAIL("at most 64 threads");
  for (int i = 0; i < n; i++) {
    int rc = pthread_create(&tids[i], &attr, worker, (void *)(intptr_t)i);
    if (rc) ZT_FAIL("pthread_create %d of %d: %s", i + 1, n, strerror(rc));
  }
  uint64_t sum = 0;
  for (int i = 0; i < n; i++) {
    void *r;
    pthread_join(tids[i], &r);
    sum += (uint64_t)(uintptr_t)r;
  }
  return sum;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "threads") == 0) {
    int n = atoi(argv[2]);
    printf("as_limit ok mode=threads threads=%d sum=%llu\n", n, (unsigned long long)run_threads(n));
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "setrlimit") == 0) {
    char *early = strdup(argv[0]);
    struct rlimit limit = {.rlim_cur = (rlim_t)atol(argv[2]) * MIB, .rlim_max = RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &limit) != 0) ZT_FAIL("setrlimit: %s", strerror(errno));
    int n = atoi(argv[3]);
    printf("as_limit ok mode=setrlimit threads=%d sum=%llu\n", n, (unsigned long long)run_threads(n));
    free(early);
    return 0;
  }
  ZT_FAIL("usage: as_limit threads N | setrlimit MIB N");
}
