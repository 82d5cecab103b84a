/*
 * prof_dump.c: the three times a heap profile is written: zm_prof_dump, the signal
 * ZONEMALLOC_PROF_SIGNAL, and exit.
 *
 * Usage: prof_dump DUMP GO   (ZONEMALLOC_PROF=1, ZONEMALLOC_PROF_SIGNAL=USR2)
 *
 * keep_live() allocates 32 MiB in 64 KiB blocks and keeps them. Then it calls
 * zm_prof_dump(DUMP) and prints "dumped rc=R" (0, or ENOTSUP when profiling is off, and
 * then it exits). It prints "ready pid=P" and waits (at most 30 s) until the file GO
 * exists: meanwhile the test sends the signal. Then it frees all but 1/8 of the blocks
 * and exits normally, which writes the exit profile.
 */
#include "common.h"
#include "zonemalloc.h"
#include <unistd.h>

#define BLOCKS 512
static void *blocks[BLOCKS];

__attribute__((noinline)) void keep_live(void) {
  for (int i = 0; i < BLOCKS; i++) {
    blocks[i] = malloc(64 << 10);
    if (!blocks[i]) ZT_FAIL("malloc");
    memset(blocks[i], i, 64 << 10);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) ZT_FAIL("usage: prof_dump DUMP GO");
  keep_live();
  int rc = zm_prof_dump(argv[1]);
  printf("dumped rc=%d\n", rc);
  fflush(stdout);
  if (rc != 0) return 0;
  printf("ready pid=%d\n", (int)getpid());
  fflush(stdout);
  for (int waited = 0; access(argv[2], F_OK) != 0; waited++) {
    if (waited == 3000) ZT_FAIL("no %s after 30 s", argv[2]);
    usleep(10000);
  }
  for (int i = 0; i < BLOCKS; i++)
    if (i % 8) free(blocks[i]);
  return 0;
}
