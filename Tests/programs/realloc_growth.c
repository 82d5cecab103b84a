/*
 * realloc_growth.c: grows one buffer from 1 MiB to 1 GiB by repeated realloc(p, 2 * n).
 *
 * Before the first step the first 1 MiB is filled with its pattern; after every step the
 * program writes a stamp into 16 sampled pages of the part that was just added (so the
 * buffer has pages resident all along its length) and then checks the first 1 MiB and
 * every stamp written so far. zm_stats deltas over the growth tell how it was done.
 *
 * Usage: realloc_growth [FINAL_MIB]   (default 1024)
 * Last line: "growth ok steps=N final=B copied=B mremaps=N in_place=N moved=N
 * mmaps=N munmaps=N"; a lost byte exits 1 with a message on stderr.
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"

#define START ((size_t)1 << 20)
#define SAMPLES_PER_STEP 16
#define MAX_STAMPS 1024
#define PAGE 4096

static struct { size_t offset; uint64_t value; } stamps[MAX_STAMPS];
static int nstamps;

static uint64_t stamp_value(size_t offset) { return zt_mix(offset ^ 0x5eed5eedULL); }

/* The first 1 MiB against its reference copy (zt_check's key depends on the address,
 * and the buffer may move), then every stamp written so far. */
static void verify(const unsigned char *p, const unsigned char *reference, size_t step) {
  if (memcmp(p, reference, START) != 0) ZT_FAIL("the first 1 MiB changed at step %zu (buffer %p)", step, (void *)p);
  for (int i = 0; i < nstamps; i++) {
    uint64_t got;
    memcpy(&got, p + stamps[i].offset, 8);
    if (got != stamps[i].value) ZT_FAIL("stamp at offset %zu changed at step %zu", stamps[i].offset, step);
  }
}

int main(int argc, char **argv) {
  size_t final = (argc > 1 ? (size_t)atol(argv[1]) : 1024) << 20;
  unsigned char *p = malloc(START);
  if (!p) ZT_FAIL("malloc(1 MiB) failed");
  unsigned char *reference = malloc(START);
  if (!reference) ZT_FAIL("malloc of the reference failed");
  zt_fill(reference, START, 42);
  memcpy(p, reference, START);

  zm_stats_t before, after;
  zm_stats(&before);
  size_t n = START, steps = 0, in_place = 0, moved = 0;
  uint64_t rng = zt_seed_for(3);
  while (n < final) {
    unsigned char *q = realloc(p, 2 * n);
    if (!q) ZT_FAIL("realloc(%zu) failed", 2 * n);
    if (q == p) in_place++; else moved++;
    p = q;
    steps++;
    verify(p, reference, steps);
    /* Stamps in the newly added half [n, 2n). */
    for (int i = 0; i < SAMPLES_PER_STEP && nstamps < MAX_STAMPS; i++) {
      size_t pages = n / PAGE, offset = n + (size_t)(zt_rand(&rng) % pages) * PAGE + (size_t)(zt_rand(&rng) % (PAGE / 8)) * 8;
      stamps[nstamps].offset = offset;
      stamps[nstamps].value = stamp_value(offset);
      memcpy(p + offset, &stamps[nstamps].value, 8);
      nstamps++;
    }
    n *= 2;
  }
  zm_stats(&after);
  verify(p, reference, steps);
  if (zm_malloc_usable_size(p) < n) ZT_FAIL("usable size %zu below %zu", zm_malloc_usable_size(p), n);
  free(p);
  free(reference);
  printf("growth ok steps=%zu final=%zu copied=%llu mremaps=%llu in_place=%zu moved=%zu mmaps=%llu munmaps=%llu "
         "vmhwm_kb=%ld\n",
         steps, n, PM_STATS_DELTA(after, before, realloc_copied_bytes), PM_STATS_DELTA(after, before, mremap_calls),
         in_place, moved, PM_STATS_DELTA(after, before, mmap_calls), PM_STATS_DELTA(after, before, munmap_calls),
         pm_status_kb("VmHWM:"));
  return 0;
}
