/*
 * safety_faults.c: deliberate misuses of the heap that zonemalloc must catch by aborting
 * with a one-line "zonemalloc: ..." message naming the pointer.
 *
 * Usage: safety_faults MODE, MODE one of
 *   double_free       free the same 64-byte block twice
 *   free_stack        free the address of a stack buffer
 *   free_interior     free p+16 of a 64-byte block
 *   free_uncarved     free p+16 KiB of a 64-byte block: a chunk start of the same slab
 *                     that was never handed out (the slab carves a page at a time)
 *   free_span_inner   free p+4 KiB of a 100,000-byte block (a span of two granules)
 *   free_span_granule free p+64 KiB of the same: the start of the span's second granule
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
  } else if (strcmp(mode, "free_uncarved") == 0) {
    char *volatile never = p + 16384;
    announce(never);
    free(never);
  } else if (strcmp(mode, "free_span_inner") == 0 || strcmp(mode, "free_span_granule") == 0) {
    char *volatile span = malloc(100000);
    memset(span, 1, 100000);
    char *volatile inside = span + (strcmp(mode, "free_span_inner") == 0 ? 4096 : 65536);
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
