/*
 * page_geometry.c: alignment, guard pages and release at the page size the allocator
 * believes in (issue 25). The test forces it with ZONEMALLOC_TEST_PAGE_SIZE (4, 16 or
 * 64 KiB) on a host, or under qemu-user, whose pages are 4 KiB, and passes the same size
 * as PAGE.
 *
 * Usage: page_geometry PAGE align | guard | guard_under | release
 *   align        pvalloc, valloc, memalign, aligned_alloc and posix_memalign at PAGE:
 *                page-aligned blocks (pvalloc's usable size a multiple of PAGE), and a
 *                big block's usable size a multiple of PAGE. Prints "align ok ..." with
 *                pvalloc_usable=N, which tells whether the size was taken at all.
 *   guard        (ZONEMALLOC_GUARD_RATE=1) a 64-byte guarded block ends at a PAGE
 *                boundary; the PAGE bytes after it are a guard; once freed, its page
 *                is inaccessible.
 *   guard_under  (and ZONEMALLOC_GUARD_UNDERFLOW=1) the block starts at a PAGE
 *                boundary and the PAGE bytes before it are a guard.
 *   release      8 MiB of small blocks, 8 MiB of 40 KB spans and a 32 MiB big block,
 *                written, freed and trimmed (malloc_trim): at most an eighth of their
 *                pages stays resident (mincore).
 * Accessibility is probed without a fault: write(2) into a pipe copies from the address
 * and fails with EFAULT when it cannot be read. Prints "<mode> ok field=value ..." and
 * exits 0, or the first failure on stderr and exits 1.
 */
#include "common.h"
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page;
static int probe_pipe[2];

static int readable(const void *address) {
  char byte;
  if (write(probe_pipe[1], address, 1) != 1) return 0;
  if (read(probe_pipe[0], &byte, 1) != 1) ZT_FAIL("pipe read failed");
  return 1;
}

static void check_aligned(const char *name, void *p) {
  if (!p) ZT_FAIL("%s returned NULL", name);
  if ((uintptr_t)p % page) ZT_FAIL("%s returned %p, not aligned to %zu", name, p, page);
  memset(p, 0x5a, 1);
}

static void align(void) {
  void *pv = pvalloc(1);
  check_aligned("pvalloc(1)", pv);
  size_t pv_usable = malloc_usable_size(pv);
  if (pv_usable < page || pv_usable % page) ZT_FAIL("pvalloc(1) usable size %zu, page %zu", pv_usable, page);
  check_aligned("valloc(100)", valloc(100));
  check_aligned("memalign(page, 100)", memalign(page, 100));
  check_aligned("aligned_alloc(page, page)", aligned_alloc(page, page));
  void *p = NULL;
  if (posix_memalign(&p, page, 3 * page + 1) != 0) ZT_FAIL("posix_memalign failed");
  check_aligned("posix_memalign(page, 3 pages + 1)", p);
  char *big = malloc((1 << 20) + 1);
  size_t big_usable = malloc_usable_size(big);
  if (!big || big_usable % page || big_usable < (1 << 20) + 1) ZT_FAIL("big block usable size %zu", big_usable);
  memset(big, 1, big_usable);
  printf("align ok page=%zu pvalloc_usable=%zu big_usable=%zu\n", page, pv_usable, big_usable);
}

/* The first of up to 100 blocks of 64 bytes whose neighbour page is a guard. */
static char *guarded_block(int under) {
  for (int i = 0; i < 100; i++) {
    char *p = malloc(64);
    if (!p) ZT_FAIL("malloc(64) failed");
    if (!readable(under ? p - 1 : p + 64)) return p;
  }
  ZT_FAIL("no guarded block in 100 allocations (is ZONEMALLOC_GUARD_RATE=1 set?)");
}

static void guard(int under) {
  char *p = guarded_block(under);
  uintptr_t edge = under ? (uintptr_t)p : (uintptr_t)p + 64;
  if (edge % page) ZT_FAIL("the guarded block %p does not %s at a %zu-byte page boundary", p, under ? "start" : "end", page);
  if (!readable(p) || !readable(p + 63)) ZT_FAIL("the guarded block %p is not readable", p);
  const char *guard_first = under ? (const char *)edge - page : (const char *)edge;
  for (size_t offset = 0; offset < page; offset += 4096)
    if (readable(guard_first + offset)) ZT_FAIL("guard byte %p (%zu into the guard) is readable", guard_first + offset, offset);
  if (readable(guard_first + page - 1)) ZT_FAIL("the guard's last byte is readable");
  free(p);
  if (readable(p) || readable((const char *)(edge - 1))) ZT_FAIL("the freed guarded block %p is readable", p);
  printf("guard ok page=%zu under=%d block=%p\n", page, under, (void *)p);
}

/* Resident pages (of the host's size) in [p, p + length), from mincore. */
static size_t resident(const void *p, size_t length, size_t *total) {
  size_t host = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = (uintptr_t)p & ~(host - 1), end = ((uintptr_t)p + length + host - 1) & ~(host - 1);
  size_t count = 0;
  unsigned char vector[256];
  for (uintptr_t at = start; at < end; at += 256 * host) {
    size_t pages = (end - at) / host < 256 ? (end - at) / host : 256;
    *total += pages;
    if (mincore((void *)at, pages * host, vector) != 0) continue; /* unmapped: nothing resident */
    for (size_t i = 0; i < pages; i++) count += vector[i] & 1;
  }
  return count;
}

static void release(void) {
  enum { SMALL = 8192, SPANS = 200 };
  static char *small[SMALL], *spans[SPANS];
  for (int i = 0; i < SMALL; i++) memset(small[i] = malloc(1024), 1, 1024);
  for (int i = 0; i < SPANS; i++) memset(spans[i] = malloc(40000), 2, 40000);
  char *big = malloc(32 << 20);
  if (!big) ZT_FAIL("malloc(32 MiB) failed");
  memset(big, 3, 32 << 20);
  for (int i = 0; i < SMALL; i++) free(small[i]);
  for (int i = 0; i < SPANS; i++) free(spans[i]);
  free(big);
  malloc_trim(0);
  size_t small_total = 0, spans_total = 0, big_total = 0, small_resident = 0, spans_resident = 0;
  for (int i = 0; i < SMALL; i++) small_resident += resident(small[i], 1024, &small_total);
  for (int i = 0; i < SPANS; i++) spans_resident += resident(spans[i], 40000, &spans_total);
  size_t big_resident = resident(big, 32 << 20, &big_total);
  printf("release ok page=%zu small_resident=%zu small_pages=%zu spans_resident=%zu spans_pages=%zu "
         "big_resident=%zu big_pages=%zu\n", page, small_resident, small_total, spans_resident, spans_total,
         big_resident, big_total);
  if (small_resident * 8 > small_total || spans_resident * 8 > spans_total || big_resident * 8 > big_total)
    ZT_FAIL("freed memory still resident after malloc_trim");
}

int main(int argc, char **argv) {
  if (argc != 3) ZT_FAIL("usage: page_geometry PAGE align|guard|guard_under|release");
  page = strtoul(argv[1], NULL, 0);
  if (page < 4096 || (page & (page - 1))) ZT_FAIL("bad page size %s", argv[1]);
  if (pipe(probe_pipe) != 0) ZT_FAIL("pipe failed");
  if (strcmp(argv[2], "align") == 0) align();
  else if (strcmp(argv[2], "guard") == 0) guard(0);
  else if (strcmp(argv[2], "guard_under") == 0) guard(1);
  else if (strcmp(argv[2], "release") == 0) release();
  else ZT_FAIL("unknown mode %s", argv[2]);
  return 0;
}
