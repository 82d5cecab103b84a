/*
 * mem_limit.c: churn a live set that sits just below a memory cap.
 *
 * Models: a cache or server sized to its container's memory limit, which keeps its
 * live data near the limit and must survive allocation failures rather than crash.
 * The cap is read from ZONEMALLOC_LIMIT (the benchmark driver sets it, 256M by
 * default; zonemalloc enforces it, other allocators ignore it). Each thread keeps its
 * share of a live set of `percent` % of the cap: it picks a random slot, frees the
 * block there, or allocates a new one if that keeps it under its share. Sizes: 70 %
 * small (16 B..1 KiB), 25 % medium (1..64 KiB), 5 % big (64 KiB..2 MiB, log-uniform).
 * A NULL from malloc is counted as a refusal; the thread then frees a few blocks and
 * retries once, and gives up on that step if the retry also fails.
 *
 * Usage: mem_limit [threads=2] [operations=10000000] [--percent 80] [--slots 20000]
 * Checks: small blocks carry end stamps, bigger ones page stamps, all checked before
 * free; allocations == frees at the end; the program must not crash under any
 * allocator, whatever malloc returns.
 * Prints: ok name=mem-limit ... refusals=N gave_up=N peak_live_mib=X
 *         [zm_limit= zm_limit_reclaims= zm_limit_refusals= zm_mapped_mib=]
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

enum { SMALL_MAX = 1024, MEDIUM_MAX = 64 << 10, BIG_MAX = 2 << 20, RELIEF = 8 };

typedef struct {
  long id, ops, nslots;
  size_t share, live, peak;
  rng_t rng;
  slot_t *slots;
  uint64_t allocs, frees, refusals, gave_up;
} worker_t;

static atomic_size_t live_total, live_peak;

static void account(long delta) {
  size_t now = atomic_fetch_add(&live_total, (size_t)delta) + (size_t)delta;
  size_t peak = atomic_load(&live_peak);
  while (now > peak && !atomic_compare_exchange_weak(&live_peak, &peak, now)) {}
}

static size_t pick_size(rng_t *r) {
  uint64_t roll = rng_next(r) % 100;
  if (roll < 70) return rng_range(r, 16, SMALL_MAX);
  if (roll < 95) return rng_range(r, SMALL_MAX + 1, MEDIUM_MAX);
  return rng_log_range(r, MEDIUM_MAX + 1, BIG_MAX);
}

static void stamp(slot_t *s) {
  if (s->size <= SMALL_MAX) ends_stamp(s->ptr, s->size, s->tag);
  else page_stamp(s->ptr, s->size, s->tag);
}

static int intact(const slot_t *s) {
  return s->size <= SMALL_MAX ? ends_check(s->ptr, s->size, s->tag) : page_check(s->ptr, s->size, s->tag);
}

static void release(worker_t *w, slot_t *s) {
  if (!s->ptr) return;
  if (!intact(s)) die("mem_limit: block %p of %zu bytes was overwritten", s->ptr, s->size);
  free(s->ptr);
  s->ptr = NULL;
  w->live -= s->size;
  w->frees++;
  account(-(long)s->size);
}

/* Frees up to RELIEF random live blocks after a refusal. */
static void relieve(worker_t *w) {
  for (int k = 0; k < RELIEF * 4; k++) {
    slot_t *s = &w->slots[rng_next(&w->rng) % (uint64_t)w->nslots];
    if (s->ptr) release(w, s);
  }
}

static void place(worker_t *w, slot_t *s, size_t size) {
  void *p = malloc(size);
  if (!p) {
    w->refusals++;
    relieve(w);
    p = malloc(size);
    if (!p) { w->refusals++; w->gave_up++; return; }
  }
  *s = (slot_t){ p, size, rng_next(&w->rng) };
  stamp(s);
  w->live += size;
  if (w->live > w->peak) w->peak = w->live;
  w->allocs++;
  account((long)size);
}

static void *worker(void *arg) {
  worker_t *w = arg;
  for (long i = 0; i < w->ops; i++) {
    slot_t *s = &w->slots[rng_next(&w->rng) % (uint64_t)w->nslots];
    if (s->ptr) { release(w, s); continue; }
    size_t size = pick_size(&w->rng);
    if (w->live + size <= w->share) place(w, s, size);
  }
  for (long i = 0; i < w->nslots; i++) release(w, &w->slots[i]);
  return NULL;
}

static void print_zm_counters(void) {
  zm_stats_t st;
  if (!zm_snapshot(&st)) return;
  printf(" zm_limit=%llu zm_limit_reclaims=%llu zm_limit_refusals=%llu zm_mapped_mib=%.1f",
         (unsigned long long)st.limit, (unsigned long long)st.limit_reclaims,
         (unsigned long long)st.limit_refusals, (double)st.mapped / 1048576.0);
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 2);
  long ops = arg_pos(argc, argv, 2, 10000000);
  long percent = arg_flag(argc, argv, "--percent", 80);
  long nslots = arg_flag(argc, argv, "--slots", 20000);
  size_t limit = parse_size(getenv("ZONEMALLOC_LIMIT"));
  if (limit == 0) limit = (size_t)256 << 20;
  if (threads < 1 || ops < 1 || percent < 1 || percent > 200 || nslots < 1) die("mem_limit: bad arguments");

  worker_t *ws = calloc((size_t)threads, sizeof(worker_t));
  pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
  if (!ws || !tids) die("mem_limit: calloc failed");
  uint64_t t0 = now_ns();
  for (long i = 0; i < threads; i++) {
    ws[i] = (worker_t){ .id = i, .ops = ops / threads, .nslots = nslots,
                        .share = limit / 100 * (size_t)percent / (size_t)threads,
                        .rng = rng_seed(31337 + (uint64_t)i) };
    ws[i].slots = calloc((size_t)nslots, sizeof(slot_t));
    if (!ws[i].slots) die("mem_limit: calloc of slots returned NULL");
    if (pthread_create(&tids[i], NULL, worker, &ws[i]) != 0) die("mem_limit: pthread_create");
  }
  uint64_t allocs = 0, frees = 0, refusals = 0, gave_up = 0;
  for (long i = 0; i < threads; i++) {
    pthread_join(tids[i], NULL);
    allocs += ws[i].allocs;
    frees += ws[i].frees;
    refusals += ws[i].refusals;
    gave_up += ws[i].gave_up;
    free(ws[i].slots);
  }
  double secs = secs_since(t0);
  if (allocs != frees) die("mem_limit: %llu allocations but %llu frees",
                           (unsigned long long)allocs, (unsigned long long)frees);
  printf("ok name=mem-limit threads=%ld ops=%ld limit_mib=%.0f percent=%ld allocs=%llu refusals=%llu"
         " gave_up=%llu peak_live_mib=%.1f secs=%.3f",
         threads, ops, (double)limit / 1048576.0, percent, (unsigned long long)allocs,
         (unsigned long long)refusals, (unsigned long long)gave_up,
         (double)atomic_load(&live_peak) / 1048576.0, secs);
  print_zm_counters();
  printf("\n");
  free(ws);
  free(tids);
  return 0;
}
