/*
 * api_checks.c: the malloc family's semantics, called by their libc names from a C
 * program built with -I<pkg>/include and linked with -lzonemalloc.
 *
 * Usage: api_checks CHECK   runs one named check (see the table at the bottom) and
 * prints "ok CHECK" on success; every failed expectation is reported on stderr and the
 * exit status is 1. Blocks are also checked with zm_owns(), which proves the libc name
 * reached zonemalloc and not glibc.
 */
#include "common.h"
#include <malloc.h>
#include <unistd.h>
#include <zonemalloc.h>

/* A block is used again after a failed (re)allocation on purpose: it must be intact. */
#pragma GCC diagnostic ignored "-Wuse-after-free"

#define MiB ((size_t)1 << 20)
#define OWNED(p) ZT_CHECK((p) != NULL && zm_owns(p), "block %p is not a live zonemalloc block", (void *)(p))

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }
static int aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

/* Fills the whole usable size with the pattern and reads it back. */
static void check_writable(void *p, size_t size) {
  size_t usable = malloc_usable_size(p);
  ZT_CHECK(usable >= size, "usable %zu < size %zu", usable, size);
  zt_fill(p, usable, size);
  ZT_CHECK(zt_check(p, usable, size), "pattern lost in %p (usable %zu)", p, usable);
}

static void malloc_zero(void) {
  void *a = malloc(0), *b = malloc(0);
  OWNED(a); OWNED(b);
  ZT_CHECK(a != b, "malloc(0) twice gave %p", a);
  free(a); free(b);
}

static void free_null(void) {
  free(NULL);
  void *p = malloc(32);
  OWNED(p);
  free(p);
}

static void realloc_null(void) {
  void *p = realloc(NULL, 100);
  OWNED(p);
  check_writable(p, 100);
  free(p);
}

static void realloc_zero(void) {
  void *p = malloc(100);
  OWNED(p);
  void *q = realloc(p, 0);
  ZT_CHECK(q == NULL, "realloc(p, 0) returned %p", q);
  ZT_CHECK(!zm_owns(p), "realloc(p, 0) did not free %p", p);
}

static void calloc_overflow(void) {
  size_t big = (size_t)1 << 33;
  errno = 0;
  void *p = calloc(zt_opaque(big), big);
  ZT_CHECK(p == NULL && errno == ENOMEM, "calloc(2^33, 2^33) = %p errno %d", p, errno);
  errno = 0;
  p = calloc(zt_opaque(SIZE_MAX), 2);
  ZT_CHECK(p == NULL && errno == ENOMEM, "calloc(SIZE_MAX, 2) = %p errno %d", p, errno);
}

static void calloc_zeroes(void) {
  static const size_t sizes[] = {1, 16, 24, 100, 1000, 4096, 50000, 200000, 2 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    for (int round = 0; round < 4; round++) {
      unsigned char *dirty = malloc(sizes[i]);
      memset(dirty, 0xab, sizes[i]);
      free(dirty);
      unsigned char *p = calloc(1, sizes[i]);
      OWNED(p);
      size_t bad = 0;
      for (size_t k = 0; p && k < sizes[i]; k++) bad += p[k] != 0;
      ZT_CHECK(bad == 0, "calloc(%zu) has %zu non-zero bytes (round %d)", sizes[i], bad, round);
      free(p);
    }
  }
}

static void huge_malloc(void) {
  static const size_t sizes[] = {SIZE_MAX / 2, SIZE_MAX / 2 + 1, SIZE_MAX - 4096, SIZE_MAX};
  for (size_t i = 0; i < 4; i++) {
    errno = 0;
    void *p = malloc(zt_opaque(sizes[i]));
    ZT_CHECK(p == NULL && errno == ENOMEM, "malloc(%zu) = %p errno %d", sizes[i], p, errno);
  }
}

static void reallocarray_overflow(void) {
  void *p = malloc(64);
  OWNED(p);
  zt_fill(p, 64, 7);
  errno = 0;
  void *q = reallocarray(p, zt_opaque(SIZE_MAX / 2), 4);
  ZT_CHECK(q == NULL && errno == ENOMEM, "reallocarray overflow = %p errno %d", q, errno);
  ZT_CHECK(zt_check(p, 64, 7), "old block changed by a failed reallocarray");
  q = reallocarray(p, 10, 100);
  OWNED(q);
  ZT_CHECK(q && malloc_usable_size(q) >= 1000, "reallocarray(p, 10, 100) too small");
  free(q);
}

static void posix_memalign_invalid(void) {
  static const size_t bad[] = {0, 1, 3, 4, 12, 24, 48, 100};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    void *out = (void *)0x1;
    errno = 4242;
    int rc = posix_memalign(&out, bad[i], 64);
    ZT_CHECK(rc == EINVAL, "posix_memalign(alignment %zu) = %d", bad[i], rc);
    ZT_CHECK(errno == 4242, "posix_memalign changed errno to %d", errno);
  }
}

static void posix_memalign_powers(void) {
  for (size_t a = 8; a <= MiB; a *= 2) {
    size_t sizes[] = {1, a / 2 + 1, a, 3 * a + 5};
    for (size_t i = 0; i < 4; i++) {
      void *p = NULL;
      errno = 4242;
      int rc = posix_memalign(&p, a, sizes[i]);
      ZT_CHECK(rc == 0 && errno == 4242, "posix_memalign(%zu, %zu) = %d errno %d", a, sizes[i], rc, errno);
      OWNED(p);
      if (!p) continue;
      ZT_CHECK(aligned(p, a), "%p not aligned to %zu", p, a);
      check_writable(p, sizes[i]);
      free(p);
    }
  }
}

static void aligned_alloc_invalid(void) {
  static const size_t bad[] = {3, 24, 48, 1000};
  for (size_t i = 0; i < 4; i++) {
    errno = 0;
    void *p = aligned_alloc(bad[i], 2 * bad[i]);
    ZT_CHECK(p == NULL && errno == EINVAL, "aligned_alloc(%zu) = %p errno %d", bad[i], p, errno);
  }
  void *p = aligned_alloc(64, 128);
  OWNED(p);
  ZT_CHECK(aligned(p, 64), "aligned_alloc(64) gave %p", p);
  free(p);
}

static void memalign_valloc_pvalloc(void) {
  size_t page = page_size();
  for (size_t a = 16; a <= 65536; a *= 4) {
    void *p = memalign(a, 200);
    OWNED(p);
    ZT_CHECK(aligned(p, a), "memalign(%zu) gave %p", a, p);
    free(p);
  }
  void *p = memalign(24, 100); /* rounded up to 32, as glibc does */
  OWNED(p);
  ZT_CHECK(aligned(p, 32), "memalign(24) gave %p", p);
  free(p);
  static const size_t sizes[] = {0, 1, 100, 4096, 4097, 100000, MiB + 1};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    size_t want = sizes[i] ? (sizes[i] + page - 1) / page * page : page;
    void *v = valloc(sizes[i]);
    OWNED(v);
    ZT_CHECK(aligned(v, page), "valloc(%zu) gave %p", sizes[i], v);
    if (v) check_writable(v, sizes[i]);
    free(v);
    void *pv = pvalloc(sizes[i]);
    OWNED(pv);
    ZT_CHECK(aligned(pv, page), "pvalloc(%zu) gave %p", sizes[i], pv);
    if (pv) check_writable(pv, want);
    free(pv);
  }
}

/* The sizes of the sweep: every size 0..70000, then samples up to just past 8 MiB. */
static size_t sweep_size(size_t i, size_t *count) {
  static size_t extra[128]; static size_t ne;
  if (!ne) {
    for (size_t s = 70001; s < 8 * MiB && ne < 120; s = s * 9 / 8) { extra[ne++] = s; extra[ne++] = s + 1; }
    extra[ne++] = 8 * MiB - 1; extra[ne++] = 8 * MiB; extra[ne++] = 8 * MiB + 1;
  }
  *count = 70001 + ne;
  return i <= 70000 ? i : extra[i - 70001];
}

/* Each size is checked for alignment and usable size; its whole usable size is written,
 * and blocks stay live in batches of 32 so overlapping blocks are caught on read-back. */
static void size_sweep(void) {
  enum { batch = 32 };
  void *live[batch]; size_t usable[batch], seed[batch]; int n = 0;
  size_t count = 1;
  for (size_t i = 0; i < count; i++) {
    size_t s = sweep_size(i, &count);
    void *p = malloc(s);
    ZT_CHECK(p != NULL, "malloc(%zu) failed", s);
    if (p) {
      ZT_CHECK(aligned(p, 16), "malloc(%zu) gave %p", s, p);
      usable[n] = malloc_usable_size(p);
      ZT_CHECK(usable[n] >= s, "malloc(%zu) usable %zu", s, usable[n]);
      seed[n] = i;
      zt_fill(p, usable[n], i);
      live[n++] = p;
    }
    if (n < batch && i + 1 < count) continue;
    for (int k = 0; k < n; k++) {
      ZT_CHECK(zt_check(live[k], usable[k], seed[k]), "block %p (usable %zu) overwritten", live[k], usable[k]);
      free(live[k]);
    }
    n = 0;
    if (zt_failures > 20) return;
  }
}

static void realloc_contents(void) {
  static const size_t sizes[] = {1, 8, 16, 24, 48, 64, 100, 128, 256, 500, 1024, 2000, 4096, 8000,
                                 16384, 32768, 65536, 100000, 262144, MiB, 4 * MiB};
  size_t n = sizeof sizes / sizeof *sizes;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      unsigned char *p = malloc(sizes[i]);
      for (size_t k = 0; k < sizes[i]; k++) p[k] = (unsigned char)(k * 31 + i);
      unsigned char *q = realloc(p, sizes[j]);
      OWNED(q);
      if (!q) continue;
      size_t keep = sizes[i] < sizes[j] ? sizes[i] : sizes[j], bad = 0;
      for (size_t k = 0; k < keep; k++) bad += q[k] != (unsigned char)(k * 31 + i);
      ZT_CHECK(bad == 0, "realloc %zu -> %zu lost %zu bytes", sizes[i], sizes[j], bad);
      check_writable(q, sizes[j]);
      free(q);
    }
}

static void trim(void) {
  void *blocks[256];
  for (int i = 0; i < 256; i++) { blocks[i] = malloc(1000 * (size_t)i + 1); zt_fill(blocks[i], 1000 * (size_t)i + 1, i); }
  for (int i = 0; i < 256; i += 2) free(blocks[i]);
  int rc = malloc_trim(0);
  ZT_CHECK(rc == 0 || rc == 1, "malloc_trim returned %d", rc);
  for (int i = 1; i < 256; i += 2) {
    ZT_CHECK(zt_check(blocks[i], 1000 * (size_t)i + 1, i), "block %d damaged by malloc_trim", i);
    free(blocks[i]);
  }
}

/* As glibc's: a big block (glibc's mmapped chunk) counts in hblks/hblkhd, a smaller one
 * in uordblks. */
static void mallinfo2_fields(void) {
  struct mallinfo2 before = mallinfo2();
  void *big = malloc(MiB), *medium = malloc(100000);
  memset(big, 1, MiB);
  memset(medium, 1, 100000);
  struct mallinfo2 during = mallinfo2();
  ZT_CHECK(during.uordblks <= during.arena, "uordblks %zu > arena %zu", during.uordblks, during.arena);
  ZT_CHECK(during.fordblks <= during.arena, "fordblks %zu > arena %zu", during.fordblks, during.arena);
  ZT_CHECK(during.uordblks >= before.uordblks + 100000, "uordblks %zu -> %zu with 100000 B live", before.uordblks, during.uordblks);
  ZT_CHECK(during.hblks == before.hblks + 1, "hblks %zu -> %zu with one big block live", before.hblks, during.hblks);
  ZT_CHECK(during.hblkhd >= before.hblkhd + MiB, "hblkhd %zu -> %zu with 1 MiB live", before.hblkhd, during.hblkhd);
  free(big);
  free(medium);
  struct mallinfo2 after = mallinfo2();
  ZT_CHECK(after.uordblks < during.uordblks, "uordblks %zu -> %zu after free", during.uordblks, after.uordblks);
  ZT_CHECK(after.hblkhd == before.hblkhd, "hblkhd %zu -> %zu after free", before.hblkhd, after.hblkhd);
  ZT_CHECK(after.uordblks <= after.arena, "uordblks %zu > arena %zu", after.uordblks, after.arena);
}

static void mallopt_accepts(void) {
  ZT_CHECK(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1, "M_MMAP_THRESHOLD");
  ZT_CHECK(mallopt(M_ARENA_MAX, 2) == 1, "M_ARENA_MAX");
  ZT_CHECK(mallopt(M_TRIM_THRESHOLD, 1 << 20) == 1, "M_TRIM_THRESHOLD");
}

/* Prints the summary; the test reads stderr. */
static void stats_print(void) {
  void *p = malloc(1000);
  OWNED(p);
  malloc_stats();
  free(p);
}

static void owns(void) {
  char local[64];
  char *p = malloc(64);
  OWNED(p);
  ZT_CHECK(!zm_owns(local), "stack address owned");
  ZT_CHECK(!zm_owns(p + 16), "interior pointer owned");
  ZT_CHECK(!zm_owns(NULL), "NULL owned");
  extern void *__libc_malloc(size_t);
  extern void __libc_free(void *);
  void *foreign = __libc_malloc(64);
  ZT_CHECK(!zm_owns(foreign), "glibc block owned");
  __libc_free(foreign);
  free(p);
  ZT_CHECK(!zm_owns(p), "freed block still owned");
}

static void version(void) {
  const char *v = zm_version();
  ZT_CHECK(v && strcmp(v, ZONEMALLOC_VERSION_STRING) == 0, "zm_version() = %s", v ? v : "(null)");
}

static void stats_snapshot(void) {
  zm_stats_t a, b;
  zm_stats(&a);
  void *big = malloc(2 * MiB);
  memset(big, 1, 2 * MiB);
  zm_stats(&b);
  ZT_CHECK(b.version == ZM_STATS_VERSION, "version %llu", (unsigned long long)b.version);
  ZT_CHECK(b.allocated <= b.active && b.active <= b.mapped, "allocated %llu active %llu mapped %llu",
           (unsigned long long)b.allocated, (unsigned long long)b.active, (unsigned long long)b.mapped);
  ZT_CHECK(b.allocated >= a.allocated + 2 * MiB, "allocated %llu -> %llu", (unsigned long long)a.allocated,
           (unsigned long long)b.allocated);
  ZT_CHECK(b.malloc_count > a.malloc_count, "malloc_count did not move");
  free(big);
}

/* peak_allocated holds the highest allocated a snapshot saw; peak_mapped the highest
   mapped, and neither falls when the memory is freed and purged. */
static void stats_peaks(void) {
  zm_stats_t before, during, after;
  zm_stats(&before);
  void *big = malloc(8 * MiB);
  memset(big, 1, 8 * MiB);
  zm_stats(&during);
  free(big);
  zm_purge();
  zm_stats(&after);
  ZT_CHECK(during.peak_allocated >= during.allocated && during.allocated >= before.allocated + 8 * MiB,
           "peak_allocated %llu, allocated %llu with 8 MiB live", (unsigned long long)during.peak_allocated,
           (unsigned long long)during.allocated);
  ZT_CHECK(during.peak_mapped >= during.mapped && during.mapped >= 8 * MiB, "peak_mapped %llu mapped %llu",
           (unsigned long long)during.peak_mapped, (unsigned long long)during.mapped);
  ZT_CHECK(after.peak_allocated >= during.allocated && after.allocated + 8 * MiB <= after.peak_allocated,
           "after free: peak_allocated %llu allocated %llu", (unsigned long long)after.peak_allocated,
           (unsigned long long)after.allocated);
  ZT_CHECK(after.peak_mapped >= during.mapped && after.mapped + 8 * MiB <= after.peak_mapped,
           "after purge: peak_mapped %llu mapped %llu", (unsigned long long)after.peak_mapped,
           (unsigned long long)after.mapped);
}

static void set_limit(void) {
  ZT_CHECK(zm_set_limit(1000) == EINVAL, "a cap below 1 MiB accepted");
  ZT_CHECK(zm_set_limit(64 * MiB) == 0, "64 MiB cap refused");
  errno = 0;
  void *p = malloc(128 * MiB);
  ZT_CHECK(p == NULL && errno == ENOMEM, "128 MiB under a 64 MiB cap = %p errno %d", p, errno);
  ZT_CHECK(zm_set_limit(0) == 0, "removing the cap refused");
  p = malloc(128 * MiB);
  OWNED(p);
  free(p);
}

static const struct { const char *name; void (*run)(void); } checks[] = {
  {"malloc_zero", malloc_zero}, {"free_null", free_null}, {"realloc_null", realloc_null},
  {"realloc_zero", realloc_zero}, {"calloc_overflow", calloc_overflow}, {"calloc_zeroes", calloc_zeroes},
  {"huge_malloc", huge_malloc}, {"reallocarray_overflow", reallocarray_overflow},
  {"posix_memalign_invalid", posix_memalign_invalid}, {"posix_memalign_powers", posix_memalign_powers},
  {"aligned_alloc_invalid", aligned_alloc_invalid}, {"memalign_valloc_pvalloc", memalign_valloc_pvalloc},
  {"size_sweep", size_sweep}, {"realloc_contents", realloc_contents}, {"malloc_trim", trim},
  {"mallinfo2", mallinfo2_fields}, {"mallopt", mallopt_accepts}, {"malloc_stats", stats_print},
  {"owns", owns}, {"version", version}, {"stats_snapshot", stats_snapshot}, {"stats_peaks", stats_peaks},
  {"set_limit", set_limit},
};

int main(int argc, char **argv) {
  if (argc != 2) ZT_FAIL("usage: api_checks CHECK");
  for (size_t i = 0; i < sizeof checks / sizeof *checks; i++) {
    if (strcmp(argv[1], checks[i].name) != 0) continue;
    checks[i].run();
    if (zt_failures) return 1;
    printf("ok %s\n", checks[i].name);
    return 0;
  }
  ZT_FAIL("unknown check %s", argv[1]);
}
