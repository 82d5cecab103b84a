/*
 * planted_realloc.c: a planted bug, to show that the fuzzer finds one (README.md).
 *
 * Owns: a realloc that drops the last byte it should keep. It stands in for a slip in
 * the allocator's copy (memcpy of n - 1 bytes when a block moves): it calls the real
 * realloc and, when the block moved, changes the last byte of what realloc must keep
 * (the smaller of the old usable size and the new size). The harness is built with it
 * only as the planted variant (build.sh planted), which installs it in front of
 * zonemalloc's realloc; the test expects that variant to fail and the plain one to pass.
 */
#include <stddef.h>

static void *(*real_realloc)(void *, size_t);
static size_t (*real_usable)(void *);

static void *planted(void *p, size_t n) {
  size_t old = p ? real_usable(p) : 0;
  unsigned char *q = real_realloc(p, n);
  size_t kept = old < n ? old : n;
  if (q && p && q != p && kept) q[kept - 1] ^= 0x5a;
  return q;
}

void *(*zf_planted_realloc(void *(*real)(void *, size_t), size_t (*usable)(void *)))(void *, size_t) {
  real_realloc = real;
  real_usable = usable;
  return planted;
}
