/*
 * fork_stdio.c: fork() against stdio and allocating threads (issue 11, case 1).
 *
 * 4 threads write to FILEs of their own (fprintf) and call fflush(NULL), which holds
 * glibc's stdio list lock and a FILE lock while it may allocate; 4 threads allocate,
 * reallocate and free blocks of 16 B to 1 MiB; one thread forks FORKS times, and each
 * child allocates, frees and _exits. The workers pause for 20 us now and then, so that
 * on a small machine the forking thread gets its turn. An allocator that holds its locks across fork()
 * (taken in an atfork prepare handler, which runs before glibc takes the stdio list
 * lock) deadlocks here: the forker waits for the list lock, the stdio thread holding it
 * allocates and waits for the allocator's lock.
 *
 * Usage: fork_stdio FORKS. Prints "fork_stdio ok forks=N" and exits 0.
 */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int stop;

static void *stdio_worker(void *arg) {
  uint64_t rng = zt_seed_for((uint64_t)(intptr_t)arg);
  while (!atomic_load(&stop)) {
    /* A fresh FILE allocates its buffer at its first write, holding its own lock;
     * fflush(NULL) holds the list lock and takes every FILE's lock in turn. */
    FILE *f = fopen("/dev/null", "w");
    if (!f) ZT_FAIL("fopen /dev/null");
    fprintf(f, "line %llu\n", (unsigned long long)zt_rand(&rng));
    fflush(NULL);
    fclose(f);
    if (zt_rand(&rng) % 4 == 0) usleep(20); /* leave the forking thread some of the machine */
  }
  return NULL;
}

static void *alloc_worker(void *arg) {
  uint64_t rng = zt_seed_for(100 + (uint64_t)(intptr_t)arg);
  void *ring[64] = {0};
  while (!atomic_load(&stop)) {
    int k = (int)(zt_rand(&rng) % 64);
    size_t n = zt_skewed_size(&rng, 1 << 20);
    if (ring[k] && zt_rand(&rng) % 3 == 0) {
      void *p = realloc(ring[k], n);
      if (!p) ZT_FAIL("realloc(%zu) failed", n);
      ring[k] = p;
    } else {
      free(ring[k]);
      if (!(ring[k] = malloc(n))) ZT_FAIL("malloc(%zu) failed", n);
    }
    ((char *)ring[k])[0] = 1;
    if (zt_rand(&rng) % 16 == 0) usleep(20);
  }
  for (int k = 0; k < 64; k++) free(ring[k]);
  return NULL;
}

int main(int argc, char **argv) {
  long forks = argc > 1 ? atol(argv[1]) : 10000;
  pthread_t threads[8];
  for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, stdio_worker, (void *)(intptr_t)i);
  for (int i = 0; i < 4; i++) pthread_create(&threads[4 + i], NULL, alloc_worker, (void *)(intptr_t)i);
  for (long i = 0; i < forks; i++) {
    pid_t pid = fork();
    if (pid < 0) ZT_FAIL("fork failed");
    if (pid == 0) {
      void *p = malloc(100), *q = malloc(200000);
      if (!p || !q) _exit(3);
      free(p);
      free(q);
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      ZT_FAIL("child %ld ended with status %d", i, status);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 8; i++) pthread_join(threads[i], NULL);
  printf("fork_stdio ok forks=%ld\n", forks);
  return 0;
}
