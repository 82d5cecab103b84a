/*
 * glibc_blocks.c: blocks from glibc's own allocator (__libc_malloc and friends, as code
 * that ran before the preload or calls glibc directly hands out) passed to free,
 * realloc and malloc_usable_size, which under LD_PRELOAD are zonemalloc's, in a process
 * that cannot read /proc.
 *
 * Usage: glibc_blocks nofile | noproc
 *   nofile  lowers RLIMIT_NOFILE to 64 and opens /dev/null until EMFILE, so no file can
 *           be opened while the checks run (checked again at the end);
 *   noproc  expects /proc/self/stat to be missing (the test mounts a tmpfs over /proc).
 * The checks, for blocks of 24 B .. 4000 B (glibc's heaps: the main arena, and a second
 * thread's arena) and of 300 KB, 2 MiB and 40 MiB (above glibc's mmap threshold, so
 * "mmapped chunks"; all are allocated before any is freed, so glibc's dynamic threshold
 * does not move): malloc_usable_size equals glibc's own answer (libc.so.6's
 * malloc_usable_size, found with dlopen/dlsym) and is >= the size asked for; realloc to
 * twice and to half the size keeps the contents; free of the result, and free of an
 * untouched block, return.
 * Prints "glibc blocks ok mode=M blocks=N mmapped=N arena=N usable_small=N
 * usable_mmapped=N" and exits 0; a failed check prints FAIL and exits 1.
 */
#include "common.h"
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static size_t (*glibc_usable)(void *);
static int mmapped_count, arena_count;

static size_t header(const void *p) { return ((const size_t *)p)[-1]; }

/* Exhausts the file descriptors; returns how many were opened. */
static int use_every_fd(void) {
  struct rlimit limit = {64, 64};
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) ZT_FAIL("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
  int opened = 0;
  while (open("/dev/null", O_RDONLY) >= 0) opened++;
  if (errno != EMFILE) ZT_FAIL("open stopped with %s, not EMFILE", strerror(errno));
  return opened;
}

static void expect_no_proc(const char *why) {
  int fd = open("/proc/self/stat", O_RDONLY);
  if (fd >= 0) ZT_FAIL("/proc/self/stat can be opened (%s)", why);
}

/* Checks one glibc block of n bytes (filled with seed) and frees it in one of three ways. */
static void check_block(char *p, size_t n, uint64_t seed, int way) {
  size_t usable = malloc_usable_size(p), expected = glibc_usable(p);
  if (usable != expected || usable < n) ZT_FAIL("malloc_usable_size(%p) of %zu B = %zu, glibc says %zu", p, n, usable, expected);
  if (!zt_check(p, n, seed)) ZT_FAIL("block %p changed before the checks", p);
  if (header(p) & 2) mmapped_count++;
  if (header(p) & 4) arena_count++;
  if (way == 2) { free(p); return; }
  size_t m = way == 0 ? 2 * n : n / 2, keep = way == 0 ? n : m;
  char *saved = malloc(keep);
  memcpy(saved, p, keep);
  char *q = realloc(p, m);
  if (!q) ZT_FAIL("realloc(%p, %zu) failed", p, m);
  if (memcmp(q, saved, keep) != 0) ZT_FAIL("realloc(%p, %zu) of a %zu B block lost its contents", p, m, n);
  if (malloc_usable_size(q) < m) ZT_FAIL("realloc gave %zu usable bytes for %zu", malloc_usable_size(q), m);
  free(saved);
  free(q);
}

static void *thread_block(void *arg) { return __libc_malloc((size_t)(uintptr_t)arg); }

int main(int argc, char **argv) {
  if (argc != 2) ZT_FAIL("usage: glibc_blocks nofile | noproc");
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  glibc_usable = libc ? (size_t (*)(void *))dlsym(libc, "malloc_usable_size") : NULL;
  if (!glibc_usable) ZT_FAIL("no malloc_usable_size in libc.so.6");
  static const size_t sizes[] = {24, 100, 1000, 4000, 300000, 2 << 20, 40 << 20};
  enum { N = sizeof sizes / sizeof *sizes, WAYS = 3 };
  char *blocks[N * WAYS + 4];
  size_t lengths[N * WAYS + 4];
  int count = 0;
  for (int i = 0; i < N; i++)
    for (int w = 0; w < WAYS; w++) { lengths[count] = sizes[i]; blocks[count++] = __libc_malloc(sizes[i]); }
  lengths[count] = 500; blocks[count++] = __libc_calloc(1, 500);
  lengths[count] = 700; blocks[count++] = __libc_memalign(64, 700);
  pthread_t t;
  void *other;
  if (pthread_create(&t, NULL, thread_block, (void *)(uintptr_t)200) || pthread_join(t, &other)) ZT_FAIL("thread");
  lengths[count] = 200; blocks[count++] = other;
  for (int i = 0; i < count; i++) {
    if (!blocks[i]) ZT_FAIL("__libc_malloc(%zu) failed", lengths[i]);
    zt_fill(blocks[i], lengths[i], (uint64_t)i);
  }

  int fds = 0;
  if (strcmp(argv[1], "nofile") == 0) {
    fds = use_every_fd();
    expect_no_proc("every fd is in use");
  } else if (strcmp(argv[1], "noproc") == 0) {
    expect_no_proc("/proc is not mounted");
  } else {
    ZT_FAIL("unknown mode %s", argv[1]);
  }
  size_t usable_small = malloc_usable_size(blocks[0]), usable_mmapped = malloc_usable_size(blocks[4 * WAYS]);
  for (int i = 0; i < count; i++) check_block(blocks[i], lengths[i], (uint64_t)i, i % WAYS);
  if (strcmp(argv[1], "nofile") == 0 && open("/dev/null", O_RDONLY) >= 0) ZT_FAIL("a file descriptor came free");
  printf("glibc blocks ok mode=%s blocks=%d mmapped=%d arena=%d usable_small=%zu usable_mmapped=%zu fds=%d\n",
         argv[1], count, mmapped_count, arena_count, usable_small, usable_mmapped, fds);
  return 0;
}
