/*
 * vfork_storm.c: vfork children that leave at once, beside threads that allocate
 * (issue 26). A vfork child shares its parent's memory until it leaves, as the child of
 * a failed exec in posix_spawn does: whatever allocator code runs in it runs on the
 * parent's state.
 *
 * Usage: vfork_storm CHILDREN
 * Three threads each make exactly 20,000 malloc/free pairs (16 B to 4 KiB) while the
 * main thread vforks CHILDREN children one after another, each calling _exit(7) at once,
 * and waits for each (status 7 expected). With CHILDREN 0 the same threads run alone,
 * so the two runs' counters can be compared. Prints "vfork_storm ok children=N".
 */
#include "common.h"
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 3
#define PAIRS 20000

static void *allocate(void *arg) {
  uint64_t state = (uint64_t)(uintptr_t)arg;
  for (int i = 0; i < PAIRS; i++) {
    size_t size = 16 + (size_t)(zt_rand(&state) % 4080);
    char *p = malloc(size);
    if (!p) ZT_FAIL("malloc(%zu)", size);
    p[0] = (char)i;
    free(p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) ZT_FAIL("usage: vfork_storm CHILDREN");
  int children = atoi(argv[1]);
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++)
    if (pthread_create(&threads[t], NULL, allocate, (void *)(uintptr_t)(t + 1)) != 0) ZT_FAIL("pthread_create");
  for (int c = 0; c < children; c++) {
    pid_t pid = vfork();
    if (pid < 0) ZT_FAIL("vfork: %s", strerror(errno));
    if (pid == 0) _exit(7);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
      ZT_FAIL("child %d: status 0x%x", (int)pid, status);
  }
  for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
  printf("vfork_storm ok children=%d\n", children);
  return 0;
}
