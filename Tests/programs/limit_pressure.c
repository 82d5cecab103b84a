/*
 * limit_pressure.c: running into the memory limit, alone and with threads, and the
 * behaviour of the limit (and NUMA) variables.
 *
 * Usage:
 *   limit_pressure single LIMIT_MIB   zm_set_limit(LIMIT_MIB), then try to keep 100 MiB
 *       of mixed blocks (16 B .. 16 KiB and 32 KiB .. 1 MiB, every byte filled) live:
 *       malloc must return NULL with errno ENOMEM before that. Then every other block is
 *       freed and blocks of the freed sizes (half of them) must be allocated again.
 *       Last line "limit_pressure ok mode=single live_at_refusal=B errno=N refusals=N
 *       mapped_at_refusal=B mapped_end=B limit=B reallocated=N realloc_failures=N".
 *   limit_pressure threads N          the limit comes from ZONEMALLOC_LIMIT. N threads
 *       allocate until NULL (each records errno), meet at a barrier, free every other
 *       block, meet again, allocate blocks of half the freed sizes again, verify and free
 *       everything. Last line "limit_pressure ok mode=threads threads=N enomem=N
 *       other_errno=N refusals=N mapped_at_refusal=B mapped_end=B limit=B
 *       realloc_failures=N".
 *   limit_pressure probe              allocates and touches 200 MiB in one block and
 *       reports "limit_pressure ok mode=probe big_ok=0|1 limit=B numa_enabled=N".
 * Corruption or a block that vanished exits 1 with a message on stderr.
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"
#include <pthread.h>

#define GOAL ((size_t)100 << 20)
#define MAX_BLOCKS 60000
#define MAX_THREADS 16

typedef struct { unsigned char *p; size_t n; } block_t;

static size_t mixed_size(uint64_t *rng) {
  uint64_t pick = zt_rand(rng) % 4, v = zt_rand(rng);
  if (pick < 2) return 16 + (size_t)(v % 256);
  if (pick == 2) return 257 + (size_t)(v % (16384 - 257 + 1));
  return ((size_t)32 << 10) + (size_t)(v % (((size_t)1 << 20) - ((size_t)32 << 10)));
}

typedef struct {
  int id;
  block_t *blocks;
  size_t *freed_sizes;
  int count;
  size_t live;
  int saw_null, errno_at_null;
  int realloc_failures, reallocated;
} worker_t;

/* Allocates until malloc returns NULL (or goal bytes are live). */
static void fill_until_null(worker_t *w, uint64_t *rng, uint64_t seed, size_t goal, int max) {
  while (w->live < goal && w->count < max) {
    size_t n = mixed_size(rng);
    errno = 0;
    unsigned char *p = malloc(n);
    if (!p) {
      w->saw_null = 1;
      w->errno_at_null = errno;
      return;
    }
    zt_fill(p, n, seed);
    w->blocks[w->count].p = p;
    w->blocks[w->count].n = n;
    w->count++;
    w->live += n;
  }
}

/* Verifies all, frees the odd-numbered blocks, compacts the rest; returns the freed sizes. */
static int free_half(worker_t *w, uint64_t seed, size_t *freed_sizes) {
  int kept = 0, freed = 0;
  for (int i = 0; i < w->count; i++) {
    if (!zt_check(w->blocks[i].p, w->blocks[i].n, seed))
      ZT_FAIL("thread %d: block %p (%zu bytes) is corrupt", w->id, (void *)w->blocks[i].p, w->blocks[i].n);
    if (i & 1) {
      freed_sizes[freed++] = w->blocks[i].n;
      w->live -= w->blocks[i].n;
      free(w->blocks[i].p);
    } else {
      w->blocks[kept++] = w->blocks[i];
    }
  }
  w->count = kept;
  return freed;
}

/* Allocates blocks of every other freed size again; each must succeed. */
static void allocate_again(worker_t *w, uint64_t seed, const size_t *freed_sizes, int freed, int max) {
  for (int i = 0; i < freed; i += 2) {
    size_t n = freed_sizes[i];
    errno = 0;
    unsigned char *p = malloc(n);
    if (!p) {
      w->realloc_failures++;
      fprintf(stderr, "thread %d: malloc(%zu) failed again after freeing half (errno %d)\n", w->id, n, errno);
      continue;
    }
    zt_fill(p, n, seed);
    if (w->count == max) ZT_FAIL("too many blocks");
    w->blocks[w->count].p = p;
    w->blocks[w->count].n = n;
    w->count++;
    w->reallocated++;
  }
}

static void free_all(worker_t *w, uint64_t seed) {
  for (int i = 0; i < w->count; i++) {
    if (!zt_check(w->blocks[i].p, w->blocks[i].n, seed))
      ZT_FAIL("thread %d: block %p (%zu bytes) is corrupt at the end", w->id, (void *)w->blocks[i].p, w->blocks[i].n);
    free(w->blocks[i].p);
  }
  w->count = 0;
}

static int single(size_t limit_mib) {
  static block_t blocks[MAX_BLOCKS];
  static size_t freed_sizes[MAX_BLOCKS];
  if (zm_set_limit(limit_mib << 20) != 0) ZT_FAIL("zm_set_limit(%zu MiB) failed", limit_mib);
  zm_stats_t before, at_null, end;
  zm_stats(&before);
  worker_t w = {.id = 0, .blocks = blocks};
  uint64_t rng = zt_seed_for(31), seed = 31;
  fill_until_null(&w, &rng, seed, GOAL, MAX_BLOCKS);
  zm_stats(&at_null);
  if (!w.saw_null) ZT_FAIL("%zu bytes live under a %zu MiB limit and malloc never failed", w.live, limit_mib);
  size_t live_at_null = w.live;
  int freed = free_half(&w, seed, freed_sizes);
  allocate_again(&w, seed, freed_sizes, freed, MAX_BLOCKS);
  /* also a fresh big block and a few small ones of new sizes */
  unsigned char *big = malloc((size_t)4 << 20);
  if (!big) w.realloc_failures++; else { zt_fill(big, (size_t)4 << 20, 5); if (!zt_check(big, (size_t)4 << 20, 5)) ZT_FAIL("big"); free(big); }
  free_all(&w, seed);
  zm_stats(&end);
  printf("limit_pressure ok mode=single live_at_refusal=%zu errno=%d refusals=%llu mapped_at_refusal=%llu "
         "mapped_end=%llu limit=%llu reallocated=%d realloc_failures=%d\n",
         live_at_null, w.errno_at_null, PM_STATS_DELTA(end, before, limit_refusals),
         (unsigned long long)at_null.mapped, (unsigned long long)end.mapped, (unsigned long long)end.limit,
         w.reallocated, w.realloc_failures);
  return 0;
}

static pthread_barrier_t barrier, start;
static worker_t workers[MAX_THREADS];
static zm_stats_t stats_at_null;

static void *pressure_thread(void *arg) {
  worker_t *w = arg;
  int max = MAX_BLOCKS / 4;
  size_t *freed_sizes = w->freed_sizes;
  pthread_barrier_wait(&start); /* no thread fills the heap before every thread exists */
  uint64_t rng = zt_seed_for(100 + (uint64_t)w->id), seed = 100 + (uint64_t)w->id;
  fill_until_null(w, &rng, seed, (size_t)1 << 40, max);
  if (!w->saw_null) ZT_FAIL("thread %d: %d blocks and malloc never failed", w->id, w->count);
  if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD) zm_stats(&stats_at_null);
  pthread_barrier_wait(&barrier);
  int freed = free_half(w, seed, freed_sizes);
  pthread_barrier_wait(&barrier);
  allocate_again(w, seed, freed_sizes, freed, max);
  free_all(w, seed);
  return NULL;
}

static int threads(int n) {
  if (n < 1 || n > MAX_THREADS) ZT_FAIL("bad thread count");
  /* every allocation the program needs besides the workload is made before it starts */
  static block_t storage[MAX_THREADS][MAX_BLOCKS / 4];
  static size_t sizes[MAX_THREADS][MAX_BLOCKS / 4];
  pthread_t tids[MAX_THREADS];
  zm_stats_t before, end;
  zm_stats(&before);
  if (before.limit == 0) ZT_FAIL("run with ZONEMALLOC_LIMIT set");
  pthread_barrier_init(&barrier, NULL, (unsigned)n);
  pthread_barrier_init(&start, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    workers[i] = (worker_t){.id = i, .blocks = storage[i], .freed_sizes = sizes[i]};
    if (pthread_create(&tids[i], NULL, pressure_thread, &workers[i])) ZT_FAIL("pthread_create");
  }
  pthread_barrier_wait(&start);
  for (int i = 0; i < n; i++) pthread_join(tids[i], NULL);
  zm_stats(&end);
  int enomem = 0, other = 0, failures = 0;
  for (int i = 0; i < n; i++) {
    if (workers[i].errno_at_null == ENOMEM) enomem++; else other++;
    failures += workers[i].realloc_failures;
  }
  printf("limit_pressure ok mode=threads threads=%d enomem=%d other_errno=%d refusals=%llu mapped_at_refusal=%llu "
         "mapped_end=%llu limit=%llu realloc_failures=%d reclaims=%llu\n",
         n, enomem, other, PM_STATS_DELTA(end, before, limit_refusals), (unsigned long long)stats_at_null.mapped,
         (unsigned long long)end.mapped, (unsigned long long)end.limit, failures,
         PM_STATS_DELTA(end, before, limit_reclaims));
  return 0;
}

static int probe(void) {
  size_t n = (size_t)200 << 20;
  unsigned char *p = malloc(n);
  int ok = p != NULL;
  if (p) {
    for (size_t k = 0; k < n; k += 4096) p[k] = (unsigned char)k;
    for (size_t k = 0; k < n; k += 4096)
      if (p[k] != (unsigned char)k) ZT_FAIL("200 MiB block lost a byte at %zu", k);
    free(p);
  }
  zm_stats_t s;
  zm_stats(&s);
  printf("limit_pressure ok mode=probe big_ok=%d limit=%llu numa_enabled=%llu\n", ok, (unsigned long long)s.limit,
         (unsigned long long)s.numa_enabled);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "single") == 0) return single((size_t)atol(argv[2]));
  if (argc >= 3 && strcmp(argv[1], "threads") == 0) return threads(atoi(argv[2]));
  if (argc >= 2 && strcmp(argv[1], "probe") == 0) return probe();
  ZT_FAIL("usage: limit_pressure single LIMIT_MIB | threads N | probe");
}
