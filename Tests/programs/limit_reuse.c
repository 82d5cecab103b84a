/*
 * limit_reuse.c: waves of allocation under a memory limit that only reuse can satisfy.
 *
 * Run with ZONEMALLOC_LIMIT set (the test uses 128M). Each of WAVES waves allocates
 * LIVE_MIB of mixed blocks, fills every byte with its (address, size, seed) pattern,
 * verifies and frees them all. The mix alternates: even waves put 80% of the bytes in
 * small blocks (16 B .. 16 KiB) and 20% in big ones (32 KiB .. 4 MiB), odd waves the
 * reverse, so a wave cannot just take back the previous wave's cached memory of the
 * same kind: the limit's reclaim has to give one kind back to the OS for the other.
 * A failed allocation is counted (and skipped), not fatal, so the report says how many.
 *
 * Usage: limit_reuse [WAVES [LIVE_MIB]]   (defaults 6 and 96)
 * Last line: "limit_reuse ok waves=N total=B failures=N baseline_kb=N hwm_kb=N
 * peak_mapped=B limit=B reclaims=N refusals=N": baseline_kb is VmRSS before the first
 * wave, hwm_kb VmHWM (peak RSS) at the end, peak_mapped the largest zm_stats mapped seen
 * at the end of a wave's allocation phase.
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"

#define MAX_BLOCKS 200000

static struct { unsigned char *p; size_t n; } blocks[MAX_BLOCKS];

static size_t small_size(uint64_t *rng) {
  uint64_t v = zt_rand(rng);
  return zt_rand(rng) & 1 ? 16 + (size_t)(v % 241) : 257 + (size_t)(v % (16384 - 257 + 1));
}

static size_t big_size(uint64_t *rng) {
  size_t base = (size_t)1 << (15 + zt_rand(rng) % 7); /* 32 KiB .. 2 MiB */
  return base + (size_t)(zt_rand(rng) % base);        /* .. 4 MiB */
}

int main(int argc, char **argv) {
  int waves = argc > 1 ? atoi(argv[1]) : 6;
  size_t live = (size_t)(argc > 2 ? atol(argv[2]) : 96) << 20;
  zm_stats_t before, s;
  zm_stats(&before);
  long baseline = pm_status_kb("VmRSS:");
  uint64_t rng = zt_seed_for(21);
  size_t total = 0, failures = 0, peak_mapped = 0;
  for (int w = 0; w < waves; w++) {
    size_t small_target = live / 10 * (w % 2 == 0 ? 8 : 2), big_target = live - small_target;
    size_t small_bytes = 0, big_bytes = 0;
    int count = 0;
    uint64_t seed = zt_rand(&rng);
    /* interleave: whichever kind is further behind its target goes next */
    while (small_bytes < small_target || big_bytes < big_target) {
      int small = big_bytes >= big_target ||
                  (small_bytes < small_target && small_bytes * big_target <= big_bytes * small_target);
      size_t n = small ? small_size(&rng) : big_size(&rng);
      if (count == MAX_BLOCKS) ZT_FAIL("too many blocks in wave %d", w);
      unsigned char *p = malloc(n);
      if (small) small_bytes += n; else big_bytes += n;
      if (!p) {
        failures++;
        fprintf(stderr, "wave %d: malloc(%zu) failed (errno %d) with %zu bytes live\n", w, n, errno, small_bytes + big_bytes);
        continue;
      }
      zt_fill(p, n, seed);
      blocks[count].p = p;
      blocks[count].n = n;
      count++;
      total += n;
    }
    zm_stats(&s);
    if (s.mapped > peak_mapped) peak_mapped = s.mapped;
    for (int i = 0; i < count; i++) {
      if (!zt_check(blocks[i].p, blocks[i].n, seed))
        ZT_FAIL("wave %d: block %p (%zu bytes) is corrupt", w, (void *)blocks[i].p, blocks[i].n);
      free(blocks[i].p);
    }
  }
  zm_stats(&s);
  printf("limit_reuse ok waves=%d live=%zu total=%zu failures=%zu baseline_kb=%ld hwm_kb=%ld peak_mapped=%zu "
         "limit=%llu reclaims=%llu refusals=%llu mapped_end=%llu\n",
         waves, live, total, failures, baseline, pm_status_kb("VmHWM:"), peak_mapped, (unsigned long long)s.limit,
         PM_STATS_DELTA(s, before, limit_reclaims), PM_STATS_DELTA(s, before, limit_refusals),
         (unsigned long long)s.mapped);
  return 0;
}
