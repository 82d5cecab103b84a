/*
 * fork_signal.c: fork() from a signal handler (issue 11, case 3).
 *
 * SIGALRM arrives every 100 us (setitimer); its handler calls fork(), and the child
 * _exits at once. Meanwhile the main loop mallocs, frees, reallocs and forks (its own
 * children allocate, free and _exit), and with THREADS=2 a second thread allocates too.
 * The handler interrupts whatever the allocator is doing, fork() itself included: an
 * allocator that takes its locks in an atfork prepare handler then waits for a lock the
 * interrupted code holds. Children are reaped by the kernel (SIGCHLD ignored).
 *
 * With THREADS=2 the main thread blocks SIGALRM, so the handler runs on the second
 * thread: glibc holds its own atfork lock while a thread is inside fork(), and a handler
 * that forks on that same thread deadlocks in glibc whatever the allocator (the main
 * thread forks in its loop; the second thread only in the handler).
 *
 * Usage: fork_signal THREADS SECONDS. Prints "fork_signal ok threads=N forks=N
 * signal_forks=N skipped=N ops=N" and exits 0 (skipped: signals whose handler did not
 * fork because the previous one had just ended, see on_alarm).
 */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <unistd.h>

static atomic_long signal_forks, skipped;
static atomic_int stop;
static _Thread_local uint64_t handler_done_ns;

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Forks, unless this thread's previous handler ended less than a timer period ago. A
 * fork can take longer than the period on a loaded machine; the next SIGALRM is then
 * pending when the handler returns, the kernel delivers it at once, and the interrupted
 * code (which may hold a lock another thread waits for, whatever the allocator) never
 * runs again. Skipping one fork lets it run between two signals. */
static void on_alarm(int sig) {
  (void)sig;
  int saved = errno;
  if (monotonic_ns() - handler_done_ns < 100000) {
    atomic_fetch_add(&skipped, 1);
  } else {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0) atomic_fetch_add(&signal_forks, 1);
  }
  handler_done_ns = monotonic_ns();
  errno = saved;
}

/* One step of allocation work on a ring of blocks. */
static void step(uint64_t *rng, void **ring) {
  int k = (int)(zt_rand(rng) % 32);
  size_t n = zt_skewed_size(rng, 1 << 20);
  if (ring[k] && zt_rand(rng) % 3 == 0) {
    void *p = realloc(ring[k], n);
    if (!p) ZT_FAIL("realloc(%zu) failed", n);
    ring[k] = p;
  } else {
    free(ring[k]);
    if (!(ring[k] = malloc(n))) ZT_FAIL("malloc(%zu) failed", n);
  }
  ((char *)ring[k])[0] = 1;
}

static void *second_thread(void *unused) {
  (void)unused;
  uint64_t rng = zt_seed_for(2);
  void *ring[32] = {0};
  while (!atomic_load(&stop)) step(&rng, ring);
  for (int k = 0; k < 32; k++) free(ring[k]);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double seconds = argc > 2 ? atof(argv[2]) : 10;
  signal(SIGCHLD, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  pthread_t t;
  if (threads > 1) {
    if (pthread_create(&t, NULL, second_thread, NULL) != 0) ZT_FAIL("pthread_create");
    sigset_t alarm;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm, NULL);
  }
  struct itimerval every = {{0, 100}, {0, 100}};
  setitimer(ITIMER_REAL, &every, NULL);
  uint64_t rng = zt_seed_for(1);
  void *ring[32] = {0};
  long forks = 0, ops = 0;
  double end = zt_now() + seconds;
  while (zt_now() < end) {
    step(&rng, ring);
    ops++;
    if (ops % 512 == 0) {
      pid_t pid = fork();
      if (pid == 0) {
        free(malloc(100));
        _exit(0);
      }
      if (pid > 0) forks++;
    }
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  atomic_store(&stop, 1);
  if (threads > 1) pthread_join(t, NULL);
  for (int k = 0; k < 32; k++) free(ring[k]);
  printf("fork_signal ok threads=%d forks=%ld signal_forks=%ld skipped=%ld ops=%ld\n", threads, forks,
         atomic_load(&signal_forks), atomic_load(&skipped), ops);
  return 0;
}
