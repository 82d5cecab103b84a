/*
 * exit_threads.c: a process whose threads have all ended must exit (issue 11, case 5),
 * whatever threads the allocator runs for itself.
 *
 * Usage: exit_threads MODE
 *   main_exit  main frees a 1 MiB block (cached by the allocator), starts a worker that
 *              allocates and frees, and calls pthread_exit; the worker sleeps 50 ms and
 *              returns. glibc then exits the process with status 0.
 *   fork_thread  a thread of the program frees 1 MiB and forks; in the child that thread
 *              is the only one: it allocates and frees (1 MiB again), and returns from its
 *              thread function, which must end the child with status 0. The parent waits
 *              for the child (at most 5 s) and exits 0 if it exited 0 within 1 s.
 *   busy       main frees 1 MiB, starts a worker that allocates, then allocates and frees
 *              big blocks forever (the allocator's background work keeps running): the
 *              test ends it with SIGTERM.
 * Prints "exit_threads MODE threads_seen=N" from the worker (main_exit) or the parent
 * (fork_thread), where threads_seen is the thread count the worker saw.
 */
#include "common.h"
#include "procmem.h"
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static void *worker(void *unused) {
  (void)unused;
  for (int i = 0; i < 100; i++) free(malloc(64 + (size_t)i * 100));
  usleep(50 * 1000);
  printf("exit_threads main_exit threads_seen=%ld\n", pm_status_kb("Threads:"));
  fflush(stdout);
  return NULL;
}

static double child_started;

static void *forking_thread(void *unused) {
  (void)unused;
  free(malloc(1 << 20));
  double start = zt_now();
  pid_t pid = fork();
  if (pid < 0) ZT_FAIL("fork");
  if (pid == 0) {
    free(malloc(1 << 20));
    for (int i = 0; i < 100; i++) free(malloc(64 + (size_t)i * 100));
    return NULL; /* the child's only thread returns: the child must exit 0 */
  }
  int status = 0;
  for (int waited = 0; waited < 500; waited++) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      double took = zt_now() - start;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ZT_FAIL("child ended with status %d", status);
      if (took > 1.0) ZT_FAIL("child took %.2f s to exit", took);
      printf("exit_threads fork_thread child_ms=%ld\n", (long)(took * 1000));
      exit(0);
    }
    usleep(10 * 1000);
  }
  kill(pid, SIGKILL);
  ZT_FAIL("child %d did not exit within 5 s after its last thread returned", (int)pid);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "main_exit";
  pthread_t t;
  if (strcmp(mode, "fork_thread") == 0) {
    (void)child_started;
    pthread_create(&t, NULL, forking_thread, NULL);
    pthread_join(t, NULL);
    ZT_FAIL("the forking thread returned in the parent");
  }
  free(malloc(1 << 20));
  if (pthread_create(&t, NULL, worker, NULL) != 0) ZT_FAIL("pthread_create");
  if (strcmp(mode, "busy") == 0) {
    for (uint64_t rng = 1;;) {
      size_t n = (1 << 20) + (size_t)(zt_rand(&rng) % (4 << 20));
      char *p = malloc(n);
      if (!p) ZT_FAIL("malloc");
      p[0] = p[n - 1] = 1;
      free(p);
    }
  }
  pthread_exit(NULL);
}
