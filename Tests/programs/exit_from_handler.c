/*
 * exit_from_handler.c: a program that leaves from a signal handler while its threads
 * allocate (issue 26). Four threads (the main one among them) allocate and free blocks of 16 B to 70 KB, keeping a
 * window of live ones; a SIGALRM, due after a random 1 to 50 ms, runs a handler that
 * ends the process. The kernel delivers it to the main thread when it can, so that
 * thread allocates too: the handler often runs inside the allocator, on a thread that
 * holds its locks.
 *
 * Usage: exit_from_handler MODE [SEED]
 *   _exit  the handler calls _exit(0): async-signal-safe, so it must never hang
 *   exit   the handler calls exit(0): not async-signal-safe (atexit handlers and
 *          destructors run in the handler), but common
 * Nothing is printed: the run must end with status 0 within its timeout.
 */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#define THREADS 4
#define WINDOW 64

static int use_exit;

static void on_alarm(int sig) {
  (void)sig;
  if (use_exit) exit(0);
  _exit(0);
}

static void *churn(void *arg) {
  uint64_t state = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
  void *window[WINDOW] = {0};
  for (unsigned long i = 0;; i++) {
    unsigned slot = (unsigned)(zt_rand(&state) % WINDOW);
    free(window[slot]);
    size_t size = 16 + (size_t)(zt_rand(&state) % (70 * 1000 - 16));
    window[slot] = malloc(size);
    if (window[slot]) memset(window[slot], (int)i, size < 64 ? size : 64);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) ZT_FAIL("usage: exit_from_handler _exit|exit [seed]");
  use_exit = strcmp(argv[1], "exit") == 0;
  uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)getpid() ^ (uint64_t)(zt_now() * 1e9);
  signal(SIGALRM, on_alarm);
  pthread_t thread;
  for (int t = 1; t < THREADS; t++)
    if (pthread_create(&thread, NULL, churn, (void *)(uintptr_t)(seed + (uint64_t)t)) != 0)
      ZT_FAIL("pthread_create");
  struct itimerval due = {{0, 0}, {0, (long)(1000 + zt_rand(&seed) % 49000)}};
  setitimer(ITIMER_REAL, &due, NULL);
  churn((void *)(uintptr_t)seed);
  return 1;
}
