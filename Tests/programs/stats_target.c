/*
 * stats_target.c: a threaded program that allocates at full speed until told to stop,
 * for `zm stats PID` and `zm top PID`.
 *
 * Usage: stats_target [THREADS]   (default 4)
 *
 * Each thread replaces random blocks of a window of 256 (16 B .. 4 KiB, now and then a
 * 1 MiB block), and hands every 8th block to the next thread, which frees it (remote
 * frees). Lines on stdout (flushed, written with write(2)):
 *   ready pid=N                once the threads run;
 *   quiet ops=N                after SIGUSR1: every thread has freed what it held and
 *                              waits, so the allocator's counters stop moving;
 *   done ops=N                 after SIGUSR2 (from quiet), just before exit(0).
 * ops counts the blocks allocated by the threads.
 */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#define WINDOW 256
#define MAX_THREADS 16

static int threads = 4;
static atomic_int quiesce, quiet_threads, leave;
static atomic_ullong ops;
static volatile sig_atomic_t want_quiet, want_exit;

/* One hand-off slot per thread: the previous thread puts a block, this one frees it. */
static _Atomic(void *) handoff[MAX_THREADS];

static void say(const char *text, unsigned long long value) {
  char line[64];
  int n = snprintf(line, sizeof line, "%s%llu\n", text, value);
  if (write(1, line, (size_t)n) != n) exit(2);
}

static void on_signal(int sig) {
  if (sig == SIGUSR1) want_quiet = 1;
  else want_exit = 1;
}

static void *worker(void *arg) {
  int me = (int)(intptr_t)arg, next = (me + 1) % threads;
  uint64_t state = zt_seed_for((uint64_t)me);
  void *window[WINDOW] = {0};
  unsigned long long mine = 0;
  while (!atomic_load(&quiesce)) {
    size_t i = zt_rand(&state) % WINDOW;
    size_t n = zt_rand(&state) % 4096 == 0 ? (1 << 20) : 16 + zt_rand(&state) % 4081;
    void *old = window[i];
    window[i] = malloc(n);
    if (!window[i]) ZT_FAIL("malloc(%zu)", n);
    memset(window[i], me, n < 64 ? n : 64);
    mine++;
    if (old && mine % 8 == 0) old = atomic_exchange(&handoff[next], old);
    free(old);
    void *mine_to_free = atomic_exchange(&handoff[me], NULL);
    free(mine_to_free);
    if (mine % 1024 == 0) atomic_fetch_add(&ops, 1024);
  }
  atomic_fetch_add(&ops, mine % 1024);
  for (int i = 0; i < WINDOW; i++) free(window[i]);
  atomic_fetch_add(&quiet_threads, 1);
  while (atomic_load(&quiet_threads) < threads) usleep(1000);
  free(atomic_exchange(&handoff[me], NULL)); /* every thread has stopped handing off */
  atomic_fetch_add(&quiet_threads, 1);
  while (!atomic_load(&leave)) usleep(1000);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) threads = atoi(argv[1]);
  if (threads < 1 || threads > MAX_THREADS) ZT_FAIL("threads must be 1..%d", MAX_THREADS);
  signal(SIGUSR1, on_signal);
  signal(SIGUSR2, on_signal);
  pthread_t t[MAX_THREADS];
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
  say("ready pid=", (unsigned long long)getpid());
  while (!want_quiet) usleep(1000);
  atomic_store(&quiesce, 1);
  while (atomic_load(&quiet_threads) < 2 * threads) usleep(1000);
  say("quiet ops=", atomic_load(&ops));
  while (!want_exit) usleep(1000);
  atomic_store(&leave, 1);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  say("done ops=", atomic_load(&ops));
  return 0;
}
