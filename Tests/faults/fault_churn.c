/*
 * fault_churn.c: the allocator's program for injected system-call failures (fault_shim.c).
 *
 * Threads take random slots of a shared table (a lock per slot) and replace, grow,
 * shrink or free the block there, with malloc, calloc, realloc, posix_memalign,
 * aligned_alloc and free, sizes from 1 B to 4 MiB (skewed to small), so blocks are freed
 * by other threads than their allocator. Every block carries a pattern of its own seed
 * over all its bytes, checked before it is changed or freed: a block handed to two owners
 * at once, or moved without its contents, fails the check. A NULL is counted and must
 * come with errno ENOMEM (posix_memalign: its return value); a failed realloc must
 * leave the old block intact. At the end the injection is paused (fault_shim_pause,
 * when the shim is loaded) and the allocator must work again: 2000 blocks of every size
 * range, none NULL, all verified, then everything is freed.
 *
 * Usage: fault_churn [THREADS [OPS_PER_THREAD]]   (defaults 4 and 20000; 0 threads: only the
 * recovery round)
 * Writes "fault_churn: main" on stderr when main starts (the fault tests count the
 * shim's boot calls before it). Last line: "faults ok threads=N ops=N nulls=N
 * recovered=N"; a broken block or a NULL without ENOMEM exits 1 with "FAIL ...".
 */
#include "common.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define SLOTS 1024

typedef struct {
  pthread_mutex_t lock;
  unsigned char *p;
  size_t n;
  uint64_t seed;
} slot_t;

static slot_t slots[SLOTS];
static atomic_ullong nulls, total_ops;
static long ops_per_thread = 20000;

static void fill(unsigned char *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w = seed ^ ((i / 8 + 1) * 0x9e3779b97f4a7c15ULL);
    memcpy(p + i, &w, n - i < 8 ? n - i : 8);
  }
}

/* 1 when the first n bytes hold the pattern of seed. */
static int intact(const unsigned char *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w = seed ^ ((i / 8 + 1) * 0x9e3779b97f4a7c15ULL);
    if (memcmp(p + i, &w, n - i < 8 ? n - i : 8) != 0) return 0;
  }
  return 1;
}

static void expect_enomem(const char *what, size_t n, int error) {
  if (error != ENOMEM) ZT_FAIL("%s(%zu) returned NULL with errno %d, not ENOMEM", what, n, error);
  atomic_fetch_add_explicit(&nulls, 1, memory_order_relaxed);
}

/* A fresh block of n bytes by one of the allocation calls, or NULL (counted). */
static unsigned char *allocate(size_t n, uint64_t *rng) {
  unsigned kind = zt_rand(rng) % 10;
  void *p = NULL;
  errno = 0;
  if (kind == 0) {
    p = calloc(1, n);
    for (size_t k = 0; p && k < n; k += 97)
      if (((unsigned char *)p)[k]) ZT_FAIL("calloc(%zu) not zeroed at %zu", n, k);
  } else if (kind == 1) {
    size_t align = (size_t)16 << (zt_rand(rng) % 9);
    int rc = posix_memalign(&p, align, n);
    if (rc == 0 && (uintptr_t)p % align) ZT_FAIL("posix_memalign(%zu) gave %p", align, p);
    if (rc != 0 && rc != ENOMEM) ZT_FAIL("posix_memalign returned %d", rc);
    if (rc != 0) p = NULL, errno = ENOMEM;
  } else if (kind == 2) {
    p = aligned_alloc(4096, n);
    if (p && (uintptr_t)p % 4096) ZT_FAIL("aligned_alloc(4096) gave %p", p);
  } else {
    p = malloc(n);
  }
  if (!p) expect_enomem("allocation", n, errno);
  return p;
}

static void *worker(void *arg) {
  uint64_t rng = zt_seed_for((uint64_t)(uintptr_t)arg);
  for (long op = 0; op < ops_per_thread; op++) {
    slot_t *s = &slots[zt_rand(&rng) % SLOTS];
    size_t n = zt_skewed_size(&rng, (size_t)4 << 20);
    unsigned what = zt_rand(&rng) % 4;
    pthread_mutex_lock(&s->lock);
    if (s->p && !intact(s->p, s->n, s->seed)) ZT_FAIL("block %p of %zu bytes changed while it was live", (void *)s->p, s->n);
    if (s->p && what == 0) { /* free */
      free(s->p);
      s->p = NULL;
    } else if (s->p && what == 1) { /* realloc keeps min(old, new) bytes */
      errno = 0;
      unsigned char *q = realloc(s->p, n);
      if (!q) {
        expect_enomem("realloc", n, errno);
        if (!intact(s->p, s->n, s->seed)) ZT_FAIL("a failed realloc changed the block %p", (void *)s->p);
      } else {
        if (!intact(q, n < s->n ? n : s->n, s->seed)) ZT_FAIL("realloc %zu -> %zu lost the contents", s->n, n);
        s->p = q, s->n = n, s->seed = zt_rand(&rng);
        fill(q, n, s->seed);
      }
    } else { /* replace */
      unsigned char *p = allocate(n, &rng);
      if (s->p) free(s->p);
      s->p = p, s->n = n, s->seed = zt_rand(&rng);
      if (p) fill(p, n, s->seed);
    }
    pthread_mutex_unlock(&s->lock);
  }
  atomic_fetch_add(&total_ops, (unsigned long long)ops_per_thread);
  return NULL;
}

/* With the injection paused, every allocation must succeed again. */
static int recover(void) {
  void (*pause_faults)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "fault_shim_pause");
  if (pause_faults) pause_faults(1);
  static unsigned char *blocks[2000];
  static size_t sizes[2000];
  uint64_t rng = zt_seed_for(77);
  for (int i = 0; i < 2000; i++) {
    sizes[i] = i % 100 == 0 ? ((size_t)1 << 20) + i : zt_skewed_size(&rng, (size_t)1 << 20);
    blocks[i] = malloc(sizes[i]);
    if (!blocks[i]) ZT_FAIL("malloc(%zu) failed with the injection paused: the allocator did not recover", sizes[i]);
    fill(blocks[i], sizes[i], (uint64_t)i);
  }
  for (int i = 0; i < 2000; i++) {
    if (!intact(blocks[i], sizes[i], (uint64_t)i)) ZT_FAIL("recovery block %d of %zu bytes corrupt", i, sizes[i]);
    free(blocks[i]);
  }
  return pause_faults != NULL;
}

int main(int argc, char **argv) {
  (void)!write(2, "fault_churn: main\n", 18);
  int threads = argc > 1 ? atoi(argv[1]) : 4;
  if (argc > 2) ops_per_thread = atol(argv[2]);
  pthread_t tids[64];
  if (threads < 0 || threads > 64) ZT_FAIL("bad thread count");
  for (int i = 0; i < SLOTS; i++) pthread_mutex_init(&slots[i].lock, NULL);
  for (int i = 0; i < threads; i++)
    if (pthread_create(&tids[i], NULL, worker, (void *)(intptr_t)(i + 1))) ZT_FAIL("pthread_create");
  for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  for (int i = 0; i < SLOTS; i++) {
    if (slots[i].p && !intact(slots[i].p, slots[i].n, slots[i].seed)) ZT_FAIL("slot %d corrupt at the end", i);
    free(slots[i].p);
  }
  int paused = recover();
  printf("faults ok threads=%d ops=%llu nulls=%llu recovered=%d\n", threads, (unsigned long long)total_ops,
         (unsigned long long)nulls, paused);
  return 0;
}
