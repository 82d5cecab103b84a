/*
 * prof_daemon.c SECONDS: a command that leaves a daemon behind, for zm prof
 * (ProfCleanupTests.swift).
 *
 * It forks; the parent prints "daemon pid=N" and exits at once. The child starts a
 * session of its own, closes its standard descriptors (as daemons do, so nothing but
 * its environment ties it to zm prof), sleeps SECONDS, allocates 16 MiB in 64 KiB
 * blocks from daemon_site(), frees them, and exits normally: its heap profile is
 * written after the command has ended.
 */
#include "common.h"
#include <unistd.h>

/* Not a tail call: the return address into daemon_site is what names it. */
__attribute__((noinline)) static void *daemon_site(size_t size) {
  void *block = malloc(size);
  if (block) memset(block, 1, size);
  return block;
}

int main(int argc, char **argv) {
  unsigned seconds = argc > 1 ? (unsigned)atoi(argv[1]) : 1;
  pid_t pid = fork();
  if (pid < 0) ZT_FAIL("fork: %s", strerror(errno));
  if (pid > 0) {
    printf("daemon pid=%d\n", (int)pid);
    return 0;
  }
  setsid();
  for (int fd = 0; fd < 3; fd++) close(fd);
  sleep(seconds);
  enum { count = 256 };
  static void *blocks[count];
  for (int i = 0; i < count; i++) {
    blocks[i] = daemon_site(64 << 10);
    if (!blocks[i]) return 1;
  }
  for (int i = 0; i < count; i++) free(blocks[i]);
  return 0;
}
