/*
 * stats_fork.c: a forked child publishes its own stats page.
 *
 * Usage: stats_fork GO
 *
 * The parent allocates 4 MiB in small blocks (its page is refreshed), forks, and waits
 * for the child. The child allocates 8 MiB in small blocks and keeps them (its first
 * refresh creates its own page), then allocates and frees for 300 ms more (the page is
 * refreshed at most every 100 ms, while the process allocates), prints
 * "child pid=C parent=P", and waits (at most 30 s) until the file GO exists; then both free everything and exit normally, which
 * removes their pages. The parent prints "done" last.
 */
#include "common.h"
#include <sys/wait.h>
#include <unistd.h>

#define BLOCKS 4096

static void *blocks[BLOCKS];

static void fill(int count, size_t size) {
  for (int i = 0; i < count; i++) {
    blocks[i] = malloc(size);
    if (!blocks[i]) ZT_FAIL("malloc");
    memset(blocks[i], i, size);
  }
}

static void empty(int count) {
  for (int i = 0; i < count; i++) free(blocks[i]);
}

int main(int argc, char **argv) {
  if (argc != 2) ZT_FAIL("usage: stats_fork GO");
  fill(1024, 4096);
  empty(1024);
  pid_t child = fork();
  if (child < 0) ZT_FAIL("fork");
  if (child == 0) {
    fill(BLOCKS, 2048);
    for (double end = zt_now() + 0.3; zt_now() < end;) free(malloc(4096));
    printf("child pid=%d parent=%d\n", (int)getpid(), (int)getppid());
    fflush(stdout);
    for (int waited = 0; access(argv[1], F_OK) != 0; waited++) {
      if (waited == 3000) ZT_FAIL("no %s after 30 s", argv[1]);
      usleep(10000);
    }
    empty(BLOCKS);
    return 0;
  }
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) ZT_FAIL("child failed");
  printf("done\n");
  return 0;
}
