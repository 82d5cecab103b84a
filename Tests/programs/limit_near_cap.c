/*
 * limit_near_cap.c: a live set that sits between 90% of the memory limit and the limit.
 *
 * Run with ZONEMALLOC_LIMIT=64M. It allocates 16 KiB spans and 1 KiB blocks (a quarter
 * of the bytes) until zonemalloc holds 94% of the limit, then frees every other block
 * and allocates it again, ROUNDS times. Nothing ever needs more than the limit, so the
 * freed memory is reused from the caches and no reclaim pass runs: the report's reclaims
 * and refusals must be 0 (a pass started below the limit would release what the next
 * round faults in again).
 *
 * Usage: limit_near_cap [ROUNDS=20]
 * Last line: "limit_near_cap ok blocks=N rounds=N held_pct=P failures=N reclaims=N
 *             refusals=N peak_mapped=B limit=B"
 */
#include "common.h"
#include "zonemalloc.h"

#define MAX_BLOCKS 100000

static void *blocks[MAX_BLOCKS];
static size_t sizes[MAX_BLOCKS];

static size_t size_of(size_t i) { return i % 4 == 0 ? 16384 : 1024; }

static size_t held(void) {
  zm_stats_t st;
  zm_stats(&st);
  return (size_t)st.mapped;
}

int main(int argc, char **argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 20;
  zm_stats_t st;
  zm_stats(&st);
  if (st.limit == 0) { printf("limit_near_cap: no limit set\n"); return 1; }
  size_t limit = (size_t)st.limit, n = 0, failures = 0;
  while (n < MAX_BLOCKS && held() < limit / 100 * 94) {
    sizes[n] = size_of(n);
    blocks[n] = malloc(sizes[n]);
    if (!blocks[n]) { failures++; break; }
    memset(blocks[n], (int)(n & 0xff), sizes[n]);
    n++;
  }
  size_t pct = held() * 100 / limit;
  for (long r = 0; r < rounds; r++) {
    for (size_t i = (size_t)r % 2; i < n; i += 2) {
      free(blocks[i]);
      blocks[i] = NULL;
    }
    for (size_t i = (size_t)r % 2; i < n; i += 2) {
      blocks[i] = malloc(sizes[i]);
      if (!blocks[i]) { failures++; continue; }
      memset(blocks[i], (int)(i & 0xff), sizes[i]);
    }
  }
  zm_stats(&st);
  printf("limit_near_cap ok blocks=%zu rounds=%ld held_pct=%zu failures=%zu reclaims=%llu refusals=%llu"
         " peak_mapped=%llu limit=%zu\n", n, rounds, pct, failures, (unsigned long long)st.limit_reclaims,
         (unsigned long long)st.limit_refusals, (unsigned long long)st.peak_mapped, limit);
  for (size_t i = 0; i < n; i++) free(blocks[i]);
  return 0;
}
