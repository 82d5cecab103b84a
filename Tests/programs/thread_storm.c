/*
 * thread_storm.c: thousands of short-lived threads, WAVE of them alive at once. Each
 * allocates a few dozen blocks, frees some itself, posts some to a shared mailbox and
 * frees blocks that other (often already exited) threads posted, then exits. Threads
 * post more than they take, so the mailbox ends full of blocks whose owners are dead;
 * the main thread verifies and frees them (frees into dead threads' slabs), then checks
 * that it can still allocate normally.
 *
 * Usage: thread_storm [THREADS [WAVE]]   (defaults 4000 and 250)
 * Prints "storm ok threads=N orphan_frees=N" and exits 0; on corruption exits 1.
 */
#include "common.h"
#include <pthread.h>

#define PER_THREAD 24
#define POSTS 12
#define TAKES 10

typedef struct { void *p; size_t n; uint64_t seed; } block_t;

static pthread_mutex_t mailbox_lock = PTHREAD_MUTEX_INITIALIZER;
static block_t *mailbox;
static size_t mailbox_len;

static block_t new_block(uint64_t *rng) {
  block_t b = {.n = zt_skewed_size(rng, 65536), .seed = zt_rand(rng)};
  b.p = malloc(b.n);
  if (!b.p) ZT_FAIL("malloc(%zu) failed", b.n);
  zt_fill(b.p, b.n, b.seed);
  return b;
}

static void release(block_t b, const char *who) {
  if (!zt_check(b.p, b.n, b.seed)) ZT_FAIL("corrupt block %p size %zu (freed by %s)", b.p, b.n, who);
  free(b.p);
}

static void *short_life(void *arg) {
  uint64_t rng = zt_seed_for((uint64_t)(uintptr_t)arg);
  block_t mine[PER_THREAD], taken[TAKES];
  size_t ntaken = 0;
  for (int i = 0; i < PER_THREAD; i++) mine[i] = new_block(&rng);
  pthread_mutex_lock(&mailbox_lock);
  for (int i = 0; i < POSTS; i++) mailbox[mailbox_len++] = mine[i];
  while (ntaken < TAKES && mailbox_len > POSTS * 2) {
    size_t i = zt_rand(&rng) % (mailbox_len - POSTS); /* not one just posted */
    taken[ntaken++] = mailbox[i];
    mailbox[i] = mailbox[--mailbox_len];
  }
  pthread_mutex_unlock(&mailbox_lock);
  for (size_t i = 0; i < ntaken; i++) release(taken[i], "a worker");
  for (int i = POSTS; i < PER_THREAD; i++) release(mine[i], "its owner");
  return NULL;
}

int main(int argc, char **argv) {
  int total = argc > 1 ? atoi(argv[1]) : 4000, wave = argc > 2 ? atoi(argv[2]) : 250;
  pthread_t *tids = malloc(sizeof *tids * (size_t)wave);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  mailbox = malloc(sizeof *mailbox * (size_t)total * POSTS);
  for (int started = 0; started < total;) {
    int n = total - started < wave ? total - started : wave;
    for (int i = 0; i < n; i++)
      if (pthread_create(&tids[i], &attr, short_life, (void *)(intptr_t)(started + i))) ZT_FAIL("pthread_create");
    for (int i = 0; i < n; i++) pthread_join(tids[i], NULL);
    started += n;
  }
  size_t orphans = mailbox_len;
  for (size_t i = 0; i < mailbox_len; i++) release(mailbox[i], "main after the owners exited");
  uint64_t rng = zt_seed_for(99);
  block_t after[2000];
  for (int i = 0; i < 2000; i++) after[i] = new_block(&rng);
  for (int i = 0; i < 2000; i++) release(after[i], "main");
  free(mailbox);
  free(tids);
  printf("storm ok threads=%d orphan_frees=%zu\n", total, orphans);
  return 0;
}
