/*
 * foreign_free.c: a block that glibc's own allocator handed out (through __libc_malloc,
 * as code that ran before the preload or calls glibc directly may have) is released
 * with the ordinary free(), which under LD_PRELOAD is zonemalloc's. zonemalloc must
 * recognise the block as not its own and let it go without crashing or aborting.
 *
 * Prints "foreign free ok" and exits 0.
 */
#include "common.h"

extern void *__libc_malloc(size_t size);

int main(void) {
  for (int i = 0; i < 100; i++) {
    size_t n = i % 2 ? 100 : 100000;
    char *p = __libc_malloc(n);
    if (!p) ZT_FAIL("__libc_malloc failed");
    memset(p, 0x77, n);
    free(p);
  }
  void *own = malloc(100);
  memset(own, 1, 100);
  free(own);
  printf("foreign free ok\n");
  return 0;
}
