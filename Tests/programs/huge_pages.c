/*
 * huge_pages.c: where zonemalloc's heap sits on transparent huge pages (issue 24).
 *
 * Usage: huge_pages MODE [MIB]
 *   dense    allocates MIB MiB (default 192) of 64-byte blocks, every one written, and
 *            one 64 MiB block, written, and keeps them all to the end. Prints
 *            "huge ok small_kb= small_huge_kb= big_huge_kb= stats_huge_bytes=
 *            stats_permille= splits=": small_kb and small_huge_kb sum Rss and
 *            AnonHugePages of the mappings (/proc/self/smaps) that hold the small
 *            blocks, big_huge_kb AnonHugePages of the big block's mapping; the rest
 *            comes from zm_stats.
 *   release  starts a second thread that allocates (so the background thread runs),
 *            allocates MIB MiB (default 128) of 64 KiB blocks (one granule each), reads
 *            AnonHugePages of their mappings at once (fresh_huge_kb) and then every
 *            100 ms until 7/8 of them are on huge pages or 8 s have passed (kept_huge_kb,
 *            kept_ms), frees 40% of them in a random order (every huge page keeps most
 *            of its blocks), and reads the RSS (statm) and zm_stats' huge_splits 0.8 s
 *            after the frees (a background trim has run, the release delay of 1 s has
 *            not passed) and again 3 s after them. Prints "huge ok collapse= blocks_kb=
 *            fresh_huge_kb= kept_huge_kb= kept_ms= peak_kb= after_kb= idle_kb=
 *            splits_after= splits_idle=" (collapse: 1 when this kernel knows
 *            MADV_COLLAPSE).
 *   medium   allocates MIB MiB (default 128) of 32 KiB blocks, every one written (each
 *            takes a 64 KiB granule, whose second half stays untouched), and keeps them.
 *            Prints "huge ok rss_kb= huge_kb=": Rss and AnonHugePages of the mappings
 *            that hold them.
 * Linked with -lzonemalloc (for zm_stats).
 */
#include "common.h"
#include "procmem.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zonemalloc.h>

enum { SAMPLES = 64 };

static char smaps[4 << 20];

/* Sums Rss and AnonHugePages (kB) of the mappings holding any of the n addresses. */
static void heap_pages(uintptr_t *addresses, int n, long *rss_kb, long *huge_kb) {
  if (pm_read("/proc/self/smaps", smaps, sizeof smaps) < 0) ZT_FAIL("cannot open /proc/self/smaps");
  *rss_kb = *huge_kb = 0;
  int inside = 0;
  for (char *line = smaps; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
      inside = 0;
      for (int i = 0; i < n; i++) inside |= addresses[i] >= start && addresses[i] < end;
    } else if (inside && strncmp(line, "Rss:", 4) == 0) {
      *rss_kb += strtol(line + 4, NULL, 10);
    } else if (inside && strncmp(line, "AnonHugePages:", 14) == 0) {
      *huge_kb += strtol(line + 14, NULL, 10);
    }
  }
}

static int dense(long mib) {
  long count = (mib << 20) / 64;
  uintptr_t samples[SAMPLES];
  for (long i = 0; i < count; i++) {
    char *p = malloc(64);
    if (!p) ZT_FAIL("malloc(64) failed");
    memset(p, (int)i, 64);
    if (i % (count / SAMPLES) == 0 && i / (count / SAMPLES) < SAMPLES) samples[i / (count / SAMPLES)] = (uintptr_t)p;
  }
  size_t big_size = 64 << 20;
  char *big = malloc(big_size);
  if (!big) ZT_FAIL("malloc(64 MiB) failed");
  memset(big, 1, big_size);
  __asm__ volatile("" : : "r"(big) : "memory"); /* the writes are kept: the block escapes */
  long small_kb, small_huge_kb, big_kb, big_huge_kb;
  heap_pages(samples, SAMPLES, &small_kb, &small_huge_kb);
  uintptr_t at = (uintptr_t)big + big_size / 2;
  heap_pages(&at, 1, &big_kb, &big_huge_kb);
  zm_stats_t s;
  zm_stats(&s);
  printf("huge ok small_kb=%ld small_huge_kb=%ld big_huge_kb=%ld stats_huge_bytes=%llu stats_permille=%llu splits=%llu\n",
         small_kb, small_huge_kb, big_huge_kb, (unsigned long long)s.huge_bytes,
         (unsigned long long)s.huge_share_permille, (unsigned long long)s.huge_splits);
  return 0;
}

static int medium(long mib) {
  long count = (mib << 20) / (32 << 10);
  uintptr_t samples[SAMPLES];
  for (long i = 0; i < count; i++) {
    char *p = malloc(32 << 10);
    if (!p) ZT_FAIL("malloc(32 KiB) failed");
    memset(p, (int)i, 32 << 10);
    if (i % (count / SAMPLES) == 0 && i / (count / SAMPLES) < SAMPLES) samples[i / (count / SAMPLES)] = (uintptr_t)p;
  }
  long rss_kb, huge_kb;
  heap_pages(samples, SAMPLES, &rss_kb, &huge_kb);
  printf("huge ok rss_kb=%ld huge_kb=%ld\n", rss_kb, huge_kb);
  return 0;
}

static pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;

/* Holds a zone (so the background thread stays) until main lets it go. */
static void *helper(void *arg) {
  free(malloc(100));
  pthread_mutex_lock(&hold);
  pthread_mutex_unlock(&hold);
  return arg;
}

static unsigned long long splits_now(void) {
  zm_stats_t s;
  zm_stats(&s);
  return (unsigned long long)s.huge_splits;
}

/* 1 when the kernel knows MADV_COLLAPSE (Linux 6.1): it refuses an unknown advice with
 * EINVAL, and a range it cannot collapse otherwise. */
static int knows_collapse(void) {
  size_t size = 4 << 20;
  char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) ZT_FAIL("mmap failed");
  char *page = (char *)(((uintptr_t)p + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
  memset(page, 1, 2 << 20);
  int known = madvise(page, 2 << 20, 25 /* MADV_COLLAPSE */) == 0 || errno != EINVAL;
  munmap(p, size);
  return known;
}

static int release(long mib) {
  pthread_t t;
  pthread_mutex_lock(&hold);
  if (pthread_create(&t, NULL, helper, NULL) != 0) ZT_FAIL("pthread_create failed");
  long count = (mib << 20) / (64 << 10);
  void **blocks = calloc((size_t)count, sizeof *blocks);
  long *order = calloc((size_t)count, sizeof *order);
  if (!blocks || !order) ZT_FAIL("calloc failed");
  for (long i = 0; i < count; i++) {
    blocks[i] = malloc(64 << 10);
    if (!blocks[i]) ZT_FAIL("malloc(64 KiB) failed");
    memset(blocks[i], 7, 64 << 10);
    order[i] = i;
  }
  uintptr_t samples[SAMPLES];
  for (int i = 0; i < SAMPLES; i++) samples[i] = (uintptr_t)blocks[i * (count / SAMPLES)];
  long blocks_kb, fresh_huge_kb, kept_huge_kb;
  heap_pages(samples, SAMPLES, &blocks_kb, &fresh_huge_kb);
  double start = zt_now();
  do {
    usleep(100 * 1000);
    heap_pages(samples, SAMPLES, &blocks_kb, &kept_huge_kb);
  } while (kept_huge_kb * 8 < blocks_kb * 7 && zt_now() - start < 8);
  long kept_ms = (long)((zt_now() - start) * 1000);
  long peak = pm_statm_rss_kb();
  uint64_t seed = 24;
  for (long i = count - 1; i > 0; i--) {
    seed = zt_mix(seed + 1);
    long j = (long)(seed % (uint64_t)(i + 1)), k = order[i];
    order[i] = order[j];
    order[j] = k;
  }
  for (long i = 0; i < count * 4 / 10; i++) free(blocks[order[i]]);
  usleep(800 * 1000);
  long after = pm_statm_rss_kb();
  unsigned long long splits_after = splits_now();
  usleep(2200 * 1000);
  long idle = pm_statm_rss_kb();
  printf("huge ok collapse=%d blocks_kb=%ld fresh_huge_kb=%ld kept_huge_kb=%ld kept_ms=%ld peak_kb=%ld after_kb=%ld "
         "idle_kb=%ld splits_after=%llu splits_idle=%llu\n", knows_collapse(), blocks_kb, fresh_huge_kb, kept_huge_kb,
         kept_ms, peak, after, idle, splits_after, splits_now());
  pthread_mutex_unlock(&hold);
  pthread_join(t, NULL);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) ZT_FAIL("usage: huge_pages dense|release|medium [MIB]");
  if (strcmp(argv[1], "dense") == 0) return dense(argc > 2 ? atol(argv[2]) : 192);
  if (strcmp(argv[1], "release") == 0) return release(argc > 2 ? atol(argv[2]) : 128);
  if (strcmp(argv[1], "medium") == 0) return medium(argc > 2 ? atol(argv[2]) : 128);
  ZT_FAIL("unknown mode %s", argv[1]);
}
