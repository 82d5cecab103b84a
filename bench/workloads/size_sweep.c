/*
 * size_sweep.c: single-threaded malloc and free at every size class up to 16 KiB,
 * then a few big sizes.
 *
 * Models: a program whose requests are spread over all sizes rather than a few hot
 * ones, so every size class (and the size-to-class lookup) is exercised. For each
 * size it allocates a batch of blocks, stamps them, then frees them in an interleaved
 * order (even indices, then odd) so that free lists are not simply LIFO.
 *   sizes 1..1024 every byte, 1024..4096 every 16 bytes, 4096..16384 every 64 bytes,
 *   then 32K, 48K, 64K, 96K, 128K, 192K, 256K, 512K, 1M, 2M and 4M (2 blocks each).
 *
 * Usage: size_sweep [threads=1, ignored] [passes=150] [--batch 64]
 * Checks: on the first pass every usable byte (malloc_usable_size) of every block is
 * filled with a pattern and checked, and the alignment is checked (16 bytes for
 * requests of 16 and more, 8 below); later passes stamp the ends of small blocks and
 * every page of big ones; counts of allocations and frees must match.
 * Prints: ok name=size-sweep passes=N allocs=N secs=S
 */
#include "common.h"

#include <malloc.h>

static const size_t big_sizes[] = {
  32u << 10, 48u << 10, 64u << 10, 96u << 10, 128u << 10, 192u << 10, 256u << 10,
  512u << 10, 1u << 20, 2u << 20, 4u << 20,
};

static uint64_t allocs, frees;

static size_t next_size(size_t s) {
  if (s < 1024) return s + 1;
  if (s < 4096) return s + 16;
  return s + 64;
}

static void check_alignment(void *p, size_t s) {
  uintptr_t need = s >= 16 ? 16 : (s >= 8 ? 8 : 1);
  if ((uintptr_t)p % need != 0) die("size_sweep: malloc(%zu) = %p is not %lu-aligned", s, p,
                                     (unsigned long)need);
}

/* Writes the block's pattern: all usable bytes when thorough, else the cheap stamp. */
static void stamp(void *p, size_t s, uint64_t tag, int thorough, int big) {
  if (thorough) {
    size_t usable = malloc_usable_size(p);
    if (usable < s) die("size_sweep: malloc_usable_size(%p) = %zu < %zu", p, usable, s);
    if (big) page_stamp(p, usable, tag); else pat_fill(p, usable, tag);
  } else if (big) {
    page_stamp(p, s, tag);
  } else {
    ends_stamp(p, s, tag);
  }
}

static int verify(void *p, size_t s, uint64_t tag, int thorough, int big) {
  size_t n = thorough ? malloc_usable_size(p) : s;
  if (big) return page_check(p, n, tag);
  return thorough ? pat_check(p, n, tag) : ends_check(p, n, tag);
}

/* One size: allocate `batch` blocks, stamp them, check and free evens, then odds. */
static void one_size(void **blocks, long batch, size_t s, int thorough, int big) {
  for (long i = 0; i < batch; i++) {
    blocks[i] = malloc(s);
    if (!blocks[i]) die("size_sweep: malloc(%zu) returned NULL", s);
    check_alignment(blocks[i], s);
    stamp(blocks[i], s, (uint64_t)s * 1000003u + (uint64_t)i, thorough, big);
    allocs++;
  }
  for (int parity = 0; parity < 2; parity++) {
    for (long i = parity; i < batch; i += 2) {
      if (!verify(blocks[i], s, (uint64_t)s * 1000003u + (uint64_t)i, thorough, big))
        die("size_sweep: block %p of size %zu was overwritten", blocks[i], s);
      free(blocks[i]);
      frees++;
    }
  }
}

static void one_pass(void **blocks, long batch, int thorough) {
  for (size_t s = 1; s <= 16384; s = next_size(s)) one_size(blocks, batch, s, thorough, 0);
  long big_batch = 2;
  for (size_t i = 0; i < sizeof big_sizes / sizeof big_sizes[0]; i++)
    one_size(blocks, big_batch, big_sizes[i], thorough, 1);
}

int main(int argc, char **argv) {
  long passes = arg_pos(argc, argv, 2, 150);
  long batch = arg_flag(argc, argv, "--batch", 64);
  if (passes < 1 || batch < 2) die("size_sweep: bad arguments");
  void **blocks = calloc((size_t)batch, sizeof(void *));
  if (!blocks) die("size_sweep: calloc failed");

  uint64_t t0 = now_ns();
  for (long p = 0; p < passes; p++) one_pass(blocks, batch, p == 0);
  double secs = secs_since(t0);
  free(blocks);
  if (allocs != frees) die("size_sweep: %llu allocations but %llu frees",
                           (unsigned long long)allocs, (unsigned long long)frees);
  printf("ok name=size-sweep passes=%ld batch=%ld allocs=%llu secs=%.3f\n", passes, batch,
         (unsigned long long)allocs, secs);
  return 0;
}
