/*
 * reentrant_handler.c: a program that breaks the rules: its SIGALRM handler allocates,
 * so sooner or later it interrupts the allocator while the allocator holds a lock, and
 * the handler's own malloc wants a lock of the same or an outer class. With
 * ZONEMALLOC_CHECK_LOCKS=1 that acquisition must abort with "zonemalloc: lock order
 * violation ..." (the check a test relies on to prove the lock order of correct
 * programs); without the check the process may deadlock on itself.
 *
 * The main loop allocates and frees medium blocks, whose empty spans pass through the
 * node's depot (its lock) once the thread's own cache is full; the handler does the same.
 * Usage: reentrant_handler SECONDS. Prints "reentrant survived" and exits 0 if nothing
 * happened within SECONDS (a failure for the test).
 */
#include "common.h"
#include <signal.h>
#include <sys/time.h>

static void on_alarm(int sig) {
  (void)sig;
  void *p = malloc(300000); /* a span of 5 granules */
  if (p) ((char *)p)[0] = 1;
  free(p);
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 10;
  struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval every = {{0, 50}, {0, 50}};
  setitimer(ITIMER_REAL, &every, NULL);
  void *ring[16] = {0};
  uint64_t rng = zt_seed_for(3);
  double end = zt_now() + seconds;
  while (zt_now() < end) {
    int k = (int)(zt_rand(&rng) % 16);
    free(ring[k]);
    ring[k] = malloc(20000 + (size_t)(zt_rand(&rng) % 400000));
  }
  printf("reentrant survived\n");
  return 0;
}
