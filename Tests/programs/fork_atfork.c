/*
 * fork_atfork.c: fork() when another library's atfork handlers allocate (issue 11,
 * case 2). Linked with atfork_alloc_lib.c's library; 4 threads allocate and free while
 * the main thread forks FORKS times; each child allocates, frees and _exits.
 *
 * Usage: fork_atfork FORKS. Prints "fork_atfork ok forks=N all_handlers=0|1".
 */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

int atfork_alloc_linked(void);
static atomic_int stop;

static void *alloc_worker(void *arg) {
  uint64_t rng = zt_seed_for((uint64_t)(intptr_t)arg);
  void *ring[32] = {0};
  while (!atomic_load(&stop)) {
    int k = (int)(zt_rand(&rng) % 32);
    free(ring[k]);
    size_t n = zt_skewed_size(&rng, 1 << 20);
    if (!(ring[k] = malloc(n))) ZT_FAIL("malloc(%zu) failed", n);
    if (zt_rand(&rng) % 16 == 0) usleep(20);
  }
  for (int k = 0; k < 32; k++) free(ring[k]);
  return NULL;
}

int main(int argc, char **argv) {
  long forks = argc > 1 ? atol(argv[1]) : 1000;
  int all = atfork_alloc_linked();
  pthread_t threads[4];
  for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, alloc_worker, (void *)(intptr_t)i);
  for (long i = 0; i < forks; i++) {
    pid_t pid = fork();
    if (pid < 0) ZT_FAIL("fork failed");
    if (pid == 0) {
      free(malloc(300));
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      ZT_FAIL("child %ld ended with status %d", i, status);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
  printf("fork_atfork ok forks=%ld all_handlers=%d\n", forks, all);
  return 0;
}
