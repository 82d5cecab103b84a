/*
 * stderr_replaced.c DATAFILE MODE: a program that closes stderr and opens its own data
 * file, which gets fd 2, then ends in a way that makes zonemalloc write a message
 * (StderrReplacedTests.swift). Those messages belong on the stderr the program started
 * with, never in DATAFILE.
 *
 * It writes "data\n" to DATAFILE through fd 2, allocates 4 MiB in 4 KiB blocks (frees
 * them), then, by MODE:
 *   exit   returns from main (the statistics summary, the heap profile's line)
 *   uaf    frees a 64-byte block and reads it (under ZONEMALLOC_GUARD_RATE=1 the
 *          guarded-slot report, then abort)
 * A setup failure exits 3 (stderr is gone: the test reads the status).
 */
#include "common.h"
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) return 3;
  close(2);
  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd != 2 || write(fd, "data\n", 5) != 5) return 3;
  for (int i = 0; i < 1024; i++) {
    char *block = malloc(4096);
    if (!block) return 3;
    block[0] = (char)i;
    free(block);
  }
  if (strcmp(argv[2], "uaf") == 0) {
    volatile char *block = malloc(64);
    free((void *)block);
    return block[8];
  }
  return 0;
}
