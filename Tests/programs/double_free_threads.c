/*
 * double_free_threads.c: a small block freed twice, at least once by a thread that does
 * not own it, must abort ("zonemalloc: ... double free of 0x...") before the allocator
 * can hand the block out twice.
 *
 * Usage: double_free_threads ORDER SEED [SIZE]
 *   ORDER  owner_foreign    the main thread (the block's owner) frees it, then another
 *                           thread frees it again;
 *          foreign_owner    another thread frees it, then the owner;
 *          foreign_foreign  a second thread frees it, then a third.
 *   SEED   varies where the block lies: SEED*13 % 1024 blocks of the same size are
 *          allocated before it and SEED*29 % 1024 after it (all kept live), so the block
 *          sits anywhere in its slab and the slab may be the owner's current one, a
 *          partial one or a full one; with an odd SEED the other threads allocate and
 *          free a block of their own first (so they have zones).
 *   SIZE   the block size, 64 by default.
 * The threads run one after the other (joined), so the second free always follows the
 * first. The block's address is printed with "%p" (flushed) before the first free.
 * If the second free returns, the main thread allocates 5000 blocks of the same size,
 * keeping them all: a pointer handed out twice among them (or equal to a block still
 * live) is a duplicate hand-out. Reaching the end prints "no abort duplicates=N" on
 * stderr and exits 3 (no duplicate) or 4 (duplicates): both failures for the test.
 */
#include "common.h"
#include <pthread.h>

enum { LIVE_MAX = 1024 * 2 + 5000 + 1 };
static void *live[LIVE_MAX];
static size_t nlive, size = 64;
static void *victim;

/* A block of the thread's own, allocated and freed so that the thread has a zone (through
 * a volatile pointer: the compiler may not drop the pair). */
static void own_block(void) {
  void *volatile p = malloc(size);
  free(p);
}

static void *free_victim(void *allocate_first) {
  if (allocate_first) own_block();
  free(victim);
  return NULL;
}

static void free_in_thread(int allocate_first) {
  pthread_t t;
  if (pthread_create(&t, NULL, free_victim, allocate_first ? (void *)1 : NULL) || pthread_join(t, NULL))
    ZT_FAIL("thread");
}

static void *keep(void) {
  void *p = malloc(size);
  if (!p) ZT_FAIL("malloc(%zu) failed", size);
  memset(p, 0x33, size);
  return live[nlive++] = p;
}

static int compare(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* Number of pointers that appear more than once among the live blocks. */
static int duplicates(void) {
  qsort(live, nlive, sizeof *live, compare);
  int d = 0;
  for (size_t i = 1; i < nlive; i++) d += live[i] == live[i - 1];
  return d;
}

int main(int argc, char **argv) {
  if (argc < 3) ZT_FAIL("usage: double_free_threads ORDER SEED [SIZE]");
  const char *order = argv[1];
  long seed = atol(argv[2]);
  if (argc > 3) size = (size_t)atol(argv[3]);
  int allocate_first = seed & 1;
  for (long i = 0; i < seed * 13 % 1024; i++) keep();
  victim = malloc(size);
  memset(victim, 0x44, size);
  for (long i = 0; i < seed * 29 % 1024; i++) keep();
  printf("%p\n", victim);
  fflush(stdout);
  if (strcmp(order, "owner_foreign") == 0) {
    free(victim);
    free_in_thread(allocate_first);
  } else if (strcmp(order, "foreign_owner") == 0) {
    free_in_thread(allocate_first);
    free(victim);
  } else if (strcmp(order, "foreign_foreign") == 0) {
    free_in_thread(allocate_first);
    free_in_thread(allocate_first);
  } else {
    ZT_FAIL("unknown order %s", order);
  }
  for (int i = 0; i < 5000; i++) keep();
  int d = duplicates();
  fprintf(stderr, "no abort duplicates=%d\n", d);
  return d ? 4 : 3;
}
