/*
 * signal_handoff.c: more threads than CPUs replace random blocks of a window (16 B to
 * 4 KiB, now and then 1 MiB) and hand every 8th to the next thread, which frees it,
 * while the main thread wakes every millisecond: slabs go full, come back through
 * local frees and through signals from other threads, and a signalling freer is often
 * preempted while the owner takes its chunk and runs dry again. Each block carries its
 * size and its maker's id, checked before the free.
 *
 * Usage: signal_handoff [THREADS [SECONDS]]   (defaults 8 and 3)
 * Prints "handoff ok threads=N ops=N remote=N" and exits 0, or names the first corrupt
 * block on stderr and exits 1. A hang is the test's timeout.
 */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define WINDOW 256
#define CHECKED 16 /* bytes of each block filled and checked: the loop stays fast */
#define MAX_THREADS 64

static int threads = 8;
static atomic_int stop;
static atomic_ullong total_ops, remote_frees;
/* One hand-off slot per thread: the previous thread puts a block, this one frees it. */
static _Atomic(unsigned char *) handoff[MAX_THREADS];

/* A block's first bytes carry its size, then the id of the thread that made it. */
static unsigned char *make_block(uint64_t *rng, int me) {
  size_t n = zt_rand(rng) % 4096 == 0 ? (1 << 20) : 16 + zt_rand(rng) % 4081;
  unsigned char *p = malloc(n);
  if (!p) ZT_FAIL("malloc(%zu)", n);
  memcpy(p, &n, sizeof n);
  memset(p + sizeof n, me, CHECKED - sizeof n);
  return p;
}

static void check_and_free(unsigned char *p) {
  size_t n;
  memcpy(&n, p, sizeof n);
  if (n < 16 || n > (1 << 20)) ZT_FAIL("corrupt block %p: size %zu", (void *)p, n);
  for (size_t i = sizeof n + 1; i < CHECKED; i++)
    if (p[i] != p[sizeof n]) ZT_FAIL("corrupt block %p at byte %zu", (void *)p, i);
  free(p);
}

static void *worker(void *arg) {
  int me = (int)(intptr_t)arg, next = (me + 1) % threads;
  uint64_t rng = zt_seed_for((uint64_t)me);
  unsigned char *window[WINDOW] = {0};
  unsigned long long ops = 0, remote = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    size_t i = zt_rand(&rng) % WINDOW;
    unsigned char *old = window[i];
    window[i] = make_block(&rng, me);
    ops++;
    if (old && ops % 8 == 0) old = atomic_exchange(&handoff[next], old);
    if (old) check_and_free(old);
    unsigned char *theirs = atomic_exchange(&handoff[me], NULL);
    if (theirs) {
      check_and_free(theirs);
      remote++;
    }
  }
  for (int i = 0; i < WINDOW; i++)
    if (window[i]) check_and_free(window[i]);
  atomic_fetch_add(&total_ops, ops);
  atomic_fetch_add(&remote_frees, remote);
  return NULL;
}

int main(int argc, char **argv) {
  double seconds = 3;
  if (argc > 1) threads = atoi(argv[1]);
  if (argc > 2) seconds = atof(argv[2]);
  if (threads < 1 || threads > MAX_THREADS) ZT_FAIL("threads must be 1..%d", MAX_THREADS);
  pthread_t t[MAX_THREADS];
  for (int i = 0; i < threads; i++)
    if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) ZT_FAIL("pthread_create");
  double end = zt_now() + seconds;
  while (zt_now() < end) usleep(1000);
  atomic_store(&stop, 1);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < threads; i++) {
    unsigned char *left = atomic_exchange(&handoff[i], NULL);
    if (left) check_and_free(left);
  }
  printf("handoff ok threads=%d ops=%llu remote=%llu\n", threads, atomic_load(&total_ops), atomic_load(&remote_frees));
  return 0;
}
