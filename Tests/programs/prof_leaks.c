/*
 * prof_leaks.c: a heap with known leaks and a planted growth, for `zm prof`'s views.
 *
 * Usage: prof_leaks leak             leak_site() leaves 48 blocks of 1 MiB unfreed at
 *                                    exit; churn_site() allocates 256 MiB in 64 KiB blocks
 *                                    and frees each at once (much allocated, nothing left)
 *        prof_leaks grow BEFORE AFTER steady_site() keeps 32 MiB, zm_prof_dump(BEFORE);
 *                                    grow_site() adds 64 MiB, zm_prof_dump(AFTER)
 *        prof_leaks tick MS          tick_site() keeps 1 MiB more every 10 ms for MS ms
 *        prof_leaks one              one block of 1 GiB, freed (untouched: no memory used)
 * zm_prof_dump is looked up with dlsym, so the program runs with the library preloaded.
 * Prints "done" at the end.
 */
#include "common.h"
#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

static volatile uintptr_t sink;

static void keep(void *p, size_t n, int tag);

/* Each site uses its block before it returns, so its call to malloc is no tail call,
 * and fills it with its own byte, so no two sites are folded into one function. */
__attribute__((noinline)) void leak_site(size_t n) { keep(malloc(n), n, 1); }

__attribute__((noinline)) void churn_site(size_t n) {
  void *p = malloc(n);
  if (!p) ZT_FAIL("malloc");
  memset(p, 1, 64);
  sink += (uintptr_t)p;
  free(p);
}

__attribute__((noinline)) void steady_site(size_t n) { keep(malloc(n), n, 2); }
__attribute__((noinline)) void grow_site(size_t n) { keep(malloc(n), n, 3); }
__attribute__((noinline)) void tick_site(size_t n) { keep(malloc(n), n, 4); }

__attribute__((noinline)) static void keep(void *p, size_t n, int tag) {
  if (!p) ZT_FAIL("malloc");
  memset(p, tag, n);
  sink += (uintptr_t)p;
}

static void dump(const char *path) {
  int (*prof_dump)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "zm_prof_dump");
  if (!prof_dump) ZT_FAIL("zm_prof_dump is not loaded");
  int rc = prof_dump(path);
  if (rc != 0) ZT_FAIL("zm_prof_dump(%s): %d", path, rc);
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "leak") == 0) {
    for (int i = 0; i < 48; i++) leak_site(1 << 20);
    for (int i = 0; i < 4096; i++) churn_site(64 << 10);
  } else if (argc == 4 && strcmp(argv[1], "grow") == 0) {
    for (int i = 0; i < 32; i++) steady_site(1 << 20);
    dump(argv[2]);
    for (int i = 0; i < 64; i++) grow_site(1 << 20);
    dump(argv[3]);
  } else if (argc == 3 && strcmp(argv[1], "tick") == 0) {
    struct timespec ten = {0, 10 * 1000 * 1000};
    for (int ms = 0; ms < atoi(argv[2]); ms += 10) {
      tick_site(1 << 20);
      nanosleep(&ten, NULL);
    }
  } else if (argc == 2 && strcmp(argv[1], "one") == 0) {
    void *p = malloc((size_t)1 << 30);
    if (!p) ZT_FAIL("malloc");
    sink += (uintptr_t)p;
    free(p);
  } else {
    ZT_FAIL("usage: prof_leaks leak | grow BEFORE AFTER | tick MS | one");
  }
  printf("done\n");
  return 0;
}
