/*
 * safety_faults.c: deliberate misuses of the heap that zonemalloc must catch by aborting
 * with a one-line "zonemalloc: ..." message naming the pointer.
 *
 * Usage: safety_faults MODE, MODE one of
 *   double_free       free the same 64-byte block twice
 *   free_stack        free the address of a stack buffer
 *   free_interior     free p+16 of a 64-byte block
 *   corrupt_freelist  free a 64-byte block, overwrite its first 8 bytes (the free-list
 *                     link) with 0x4141414141414141, then allocate 64 bytes twice
 * Before the fault it prints the pointer it is about to pass (or the freed block) with
 * "%p" on stdout and flushes. Reaching the end prints "survived" and exits 0, which is
 * a failure for the test. Built with -O0 so the compiler keeps every misuse as written.
 */
#include "common.h"

static void announce(const void *p) {
  printf("%p\n", p);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 2) ZT_FAIL("usage: safety_faults MODE");
  const char *mode = argv[1];
  char *volatile p = malloc(64);
  memset(p, 0x5a, 64);
  if (strcmp(mode, "double_free") == 0) {
    announce(p);
    free(p);
    free(p);
  } else if (strcmp(mode, "free_stack") == 0) {
    char buffer[64];
    char *volatile stack = buffer;
    memset(buffer, 1, sizeof buffer);
    announce(stack);
    free(stack);
  } else if (strcmp(mode, "free_interior") == 0) {
    char *volatile inside = p + 16;
    announce(inside);
    free(inside);
  } else if (strcmp(mode, "corrupt_freelist") == 0) {
    announce(p);
    free(p);
    memset(p, 0x41, 8);
    char *volatile a = malloc(64), *volatile b = malloc(64);
    memset(a, 2, 64);
    memset(b, 3, 64);
  } else {
    ZT_FAIL("unknown mode %s", mode);
  }
  printf("survived\n");
  return 0;
}
