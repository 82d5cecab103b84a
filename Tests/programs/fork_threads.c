/*
 * fork_threads.c: fork inside a multithreaded process. Worker threads allocate and free
 * without pause while the main thread forks repeatedly. Each child verifies the blocks
 * it inherited (some allocated by the main thread, some by workers that do not exist in
 * the child), frees half of them, allocates and frees on its own, starts threads of its
 * own that allocate, free, and free more inherited blocks, and exits 0. An alarm kills a
 * deadlocked child, so the parent sees a signal instead of waiting forever.
 *
 * Usage: fork_threads [FORKS [WORKERS]]   (defaults 40 and 4)
 * Prints "fork ok children=N" and exits 0 when every child exited 0.
 */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define INHERITED 16
#define MAX_WORKERS 16
#define CHILD_THREADS 3

typedef struct { void *p; size_t n; uint64_t seed; } block_t;

/* Row 0 is the main thread's, row w+1 worker w's. Written before the barrier, then read-only. */
static block_t inherited[MAX_WORKERS + 1][INHERITED];
static int rows;
static atomic_int stop;
static pthread_barrier_t ready;

static block_t new_block(uint64_t *rng, size_t max) {
  block_t b = {.n = zt_skewed_size(rng, max), .seed = zt_rand(rng)};
  if (!(b.p = malloc(b.n))) ZT_FAIL("malloc(%zu) failed", b.n);
  zt_fill(b.p, b.n, b.seed);
  return b;
}

static void release(block_t *b) {
  if (!zt_check(b->p, b->n, b->seed)) ZT_FAIL("pid %d: corrupt block %p size %zu", (int)getpid(), b->p, b->n);
  free(b->p);
  b->p = NULL;
}

/* OPS allocations into a ring of 64 slots; each replaced block is verified and freed. */
static void churn(uint64_t *rng, int ops, size_t max) {
  block_t ring[64] = {0};
  for (int i = 0; i < ops; i++) {
    block_t *slot = &ring[zt_rand(rng) % 64];
    if (slot->p) release(slot);
    *slot = new_block(rng, max);
  }
  for (int i = 0; i < 64; i++)
    if (ring[i].p) release(&ring[i]);
}

static void *worker(void *arg) {
  int row = (int)(intptr_t)arg;
  uint64_t rng = zt_seed_for((uint64_t)row);
  for (int i = 0; i < INHERITED; i++) inherited[row][i] = new_block(&rng, 200000);
  pthread_barrier_wait(&ready);
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) churn(&rng, 200, 300000);
  return NULL;
}

/* A child's thread: churns and frees the odd-numbered inherited blocks of one row. */
static void *child_thread(void *arg) {
  int row = (int)(intptr_t)arg;
  uint64_t rng = zt_seed_for((uint64_t)getpid() * 31 + (uint64_t)row);
  churn(&rng, 2000, 100000);
  for (int i = 1; i < INHERITED; i += 2) release(&inherited[row][i]);
  return NULL;
}

static void child_main(void) {
  alarm(20);
  uint64_t rng = zt_seed_for((uint64_t)getpid());
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < INHERITED; i += 2) release(&inherited[r][i]);
  churn(&rng, 2000, 500000);
  pthread_t tids[CHILD_THREADS];
  for (int t = 0; t < CHILD_THREADS; t++)
    if (pthread_create(&tids[t], NULL, child_thread, (void *)(intptr_t)(t % rows))) ZT_FAIL("child pthread_create");
  for (int t = 0; t < CHILD_THREADS; t++) pthread_join(tids[t], NULL);
  exit(0);
}

static int reap(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) ZT_FAIL("waitpid");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  fprintf(stderr, "child %d failed: %s %d\n", (int)pid, WIFSIGNALED(status) ? "signal" : "exit status",
          WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  return 1;
}

int main(int argc, char **argv) {
  int forks = argc > 1 ? atoi(argv[1]) : 40, workers = argc > 2 ? atoi(argv[2]) : 4, failed = 0;
  if (workers < 1 || workers > MAX_WORKERS) ZT_FAIL("bad worker count");
  rows = workers + 1;
  pthread_t tids[MAX_WORKERS];
  pthread_barrier_init(&ready, NULL, (unsigned)workers + 1);
  uint64_t rng = zt_seed_for(777);
  for (int i = 0; i < INHERITED; i++) inherited[0][i] = new_block(&rng, 200000);
  for (int w = 0; w < workers; w++)
    if (pthread_create(&tids[w], NULL, worker, (void *)(intptr_t)(w + 1))) ZT_FAIL("pthread_create");
  pthread_barrier_wait(&ready);
  pid_t pending[4];
  int npending = 0;
  fflush(stdout);
  for (int f = 0; f < forks; f++) {
    if (npending == 4) {
      failed += reap(pending[0]);
      memmove(pending, pending + 1, sizeof pending[0] * 3);
      npending--;
    }
    pid_t pid = fork();
    if (pid < 0) ZT_FAIL("fork");
    if (pid == 0) child_main();
    pending[npending++] = pid;
    usleep(2000);
  }
  for (int i = 0; i < npending; i++) failed += reap(pending[i]);
  atomic_store(&stop, 1);
  for (int w = 0; w < workers; w++) pthread_join(tids[w], NULL);
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < INHERITED; i++) release(&inherited[r][i]);
  if (failed) ZT_FAIL("%d of %d children failed", failed, forks);
  printf("fork ok children=%d\n", forks);
  return 0;
}
