/*
 * sparse_release.c: a heap that grows to 1 GiB, then loses 90 % of its blocks in
 * random order; how much memory stays, and on which pages (issue 24, huge pages).
 *
 * Models: a long-running program after a load peak (a cache that evicts most of its
 * entries, a server after a burst of sessions): most blocks die, the survivors are
 * spread over the whole heap. An allocator that backs its heap with 2 MiB pages can
 * hold a whole huge page for one surviving block, unless it splits the page or
 * returns the free parts; one that keeps 4 KiB pages can give back every empty page.
 * The workload shows both sides: the RSS and huge-page share at the peak, right
 * after the frees and after an idle period.
 *
 * One thread allocates `mib` MiB in blocks of random sizes, half of the bytes in
 * small blocks (16 B..16 KiB) and half in medium ones (16..512 KiB), log-uniform
 * within each band, interleaved (the sizes of release.c). It frees `percent` % of
 * the blocks, chosen at random, then idles for `idle-ms` (the allocator's background
 * release, if any, has time to act), then frees the rest. The block table and the
 * shuffled order are mapped outside the allocator (about 7 MiB at 1 GiB, counted in
 * the RSS under every allocator alike).
 *
 * Usage: sparse_release [threads=1, must be 1] [mib=1024] [--percent 90] [--idle-ms 3000]
 * Checks: blocks under 4 KiB carry their tag in their first and last bytes, bigger
 * ones page stamps (so every page is resident), checked before every free;
 * blocks allocated == freed.
 * Prints: ok name=sparse-release mib=N blocks=N percent=N frees=N free_ms=X
 *         rss_peak_mib=X huge_peak_mib=X huge_share_peak=X
 *         rss_after_mib=X huge_after_mib=X huge_share_after=X
 *         rss_3s_mib=X huge_3s_mib=X huge_share_3s=X lazyfree_3s_mib=X
 *   _peak   once every block is allocated
 *   _after  right after the frees
 *   _3s     idle-ms after the frees (the suffix names idle-ms: _1s for 1000, _500ms for 500)
 *   lazyfree_*  memory freed with MADV_FREE and not yet taken back, counted in the RSS
 */
#include "common.h"
#include "smaps.h"

#include <sys/mman.h>

enum { SMALL_MIN = 16, SMALL_MAX = 16 << 10, MEDIUM_MAX = 512 << 10 };

typedef struct {
  slot_t *slots;
  uint32_t *order;
  size_t slots_bytes, order_bytes;
  long blocks;
} heap_t;

static void *map_table(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) die("sparse_release: mmap of a table of %zu bytes failed", bytes);
  return p;
}

static void grow(heap_t *h, size_t goal) {
  rng_t rng = rng_seed(1024);
  size_t small = 0, medium = 0;
  h->slots_bytes = (goal / SMALL_MIN + 1) * sizeof(slot_t);
  h->slots = map_table(h->slots_bytes);
  while (small + medium < goal) {
    slot_t *s = &h->slots[h->blocks++];
    int is_small = small <= medium;
    s->size = is_small ? rng_log_range(&rng, SMALL_MIN, SMALL_MAX) : rng_log_range(&rng, SMALL_MAX + 1, MEDIUM_MAX);
    s->tag = rng_next(&rng);
    s->ptr = malloc(s->size);
    if (!s->ptr) die("sparse_release: malloc(%zu) returned NULL", s->size);
    slot_stamp(s);
    *(is_small ? &small : &medium) += s->size;
  }
}

/* A random order of the block numbers, in which they are freed. */
static void shuffle(heap_t *h) {
  h->order_bytes = (size_t)h->blocks * sizeof(uint32_t);
  h->order = map_table(h->order_bytes);
  for (long i = 0; i < h->blocks; i++) h->order[i] = (uint32_t)i;
  rng_t rng = rng_seed(90);
  for (long i = h->blocks - 1; i > 0; i--) {
    long j = (long)(rng_next(&rng) % (uint64_t)(i + 1));
    uint32_t t = h->order[i];
    h->order[i] = h->order[j];
    h->order[j] = t;
  }
}

/* Frees the blocks order[from..to); returns how many it freed. */
static long free_range(heap_t *h, long from, long to) {
  long frees = 0;
  for (long i = from; i < to; i++) {
    slot_t *s = &h->slots[h->order[i]];
    if (!s->ptr) continue;
    if (!slot_intact(s)) die("sparse_release: block %p of %zu bytes was overwritten", s->ptr, s->size);
    free(s->ptr);
    s->ptr = NULL;
    frees++;
  }
  return frees;
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 1);
  long mib = arg_pos(argc, argv, 2, 1024);
  long percent = arg_flag(argc, argv, "--percent", 90);
  long idle_ms = arg_flag(argc, argv, "--idle-ms", 3000);
  if (threads != 1 || mib < 1 || percent < 0 || percent > 100 || idle_ms < 0) die("sparse_release: bad arguments");

  heap_t h = { 0 };
  grow(&h, (size_t)mib << 20);
  if (h.blocks > UINT32_MAX) die("sparse_release: too many blocks");
  shuffle(&h);
  pages_t peak = pages_now();
  long dying = h.blocks * percent / 100;
  uint64_t t0 = now_ns();
  long frees = free_range(&h, 0, dying);
  uint64_t freed_at = now_ns();
  pages_t after = pages_now();
  sleep_until(freed_at + (uint64_t)idle_ms * 1000000ull);
  pages_t idle = pages_now();
  frees += free_range(&h, dying, h.blocks);
  if (frees != h.blocks) die("sparse_release: %ld blocks allocated, %ld freed", h.blocks, frees);
  munmap(h.order, h.order_bytes);
  munmap(h.slots, h.slots_bytes);

  char idle_suffix[32];
  if (idle_ms % 1000 == 0) snprintf(idle_suffix, sizeof idle_suffix, "_%lds", idle_ms / 1000);
  else snprintf(idle_suffix, sizeof idle_suffix, "_%ldms", idle_ms);
  printf("ok name=sparse-release mib=%ld blocks=%ld percent=%ld frees=%ld free_ms=%.1f", mib, h.blocks, percent,
         frees, (double)(freed_at - t0) / 1e6);
  print_pages("_peak", peak);
  print_pages("_after", after);
  print_pages(idle_suffix, idle);
  printf(" lazyfree%s_mib=%.1f\n", idle_suffix, (double)idle.lazyfree_kib / 1024.0);
  return 0;
}
