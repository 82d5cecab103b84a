/*
 * zf_input.h: decoding the fuzzer's input.
 *
 * Owns: the byte reader (FuzzedDataProvider-style: an exhausted input reads as zeros and
 * ends the operation loop) and the decoding of sizes and alignments, which aims most
 * inputs at the sizes where zonemalloc changes strategy: the direct bucket table, the
 * slab classes (to 16 KiB), spans (to 512 KiB), big blocks, exact boundaries, and sizes
 * no allocator can serve (which must fail with ENOMEM).
 */
#ifndef ZF_INPUT_H
#define ZF_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *p;
  size_t n;
} zf_reader;

static uint8_t zf_u8(zf_reader *r) {
  if (!r->n) return 0;
  r->n--;
  return *r->p++;
}

static uint32_t zf_u32(zf_reader *r) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)zf_u8(r) << (8 * i);
  return v;
}

#define ZF_KIB ((size_t)1 << 10)
#define ZF_MIB ((size_t)1 << 20)

/* Sizes that no allocator can serve (beyond the address space, or near SIZE_MAX). */
static const size_t zf_impossible[] = {SIZE_MAX, SIZE_MAX - 4095, SIZE_MAX / 2 + 1, (size_t)1 << 62,
                                       ((size_t)1 << 48) + 1, PTRDIFF_MAX};
#define ZF_IMPOSSIBLE_COUNT (sizeof zf_impossible / sizeof zf_impossible[0])

static const size_t zf_boundaries[] = {0, 1, 8, 15, 16, 17, 127, 128, 129, 1024, 4095, 4096, 4097,
                                       16 * ZF_KIB - 1, 16 * ZF_KIB, 16 * ZF_KIB + 1, 64 * ZF_KIB,
                                       64 * ZF_KIB + 1, 512 * ZF_KIB - 1, 512 * ZF_KIB, 512 * ZF_KIB + 1,
                                       ZF_MIB, 2 * ZF_MIB + 1};

static int zf_is_impossible(size_t size) { return size > ((size_t)1 << 47); }

/* A size: mostly small, sometimes a span or a big block, an exact boundary, or impossible. */
static size_t zf_size(zf_reader *r) {
  uint8_t pick = zf_u8(r);
  uint32_t v = zf_u32(r);
  if (pick < 140) return v % 257;
  if (pick < 200) return v % (16 * ZF_KIB + 1);
  if (pick < 228) return 16 * ZF_KIB + v % (496 * ZF_KIB + 2);
  if (pick < 240) return v % (4 * ZF_MIB + 1);
  if (pick < 252) return zf_boundaries[v % (sizeof zf_boundaries / sizeof zf_boundaries[0])];
  return zf_impossible[v % ZF_IMPOSSIBLE_COUNT];
}

/* A power-of-two alignment from 1 B to 64 KiB, now and then up to 2 MiB. */
static size_t zf_alignment(zf_reader *r) {
  uint8_t v = zf_u8(r);
  return (size_t)1 << (v < 240 ? v % 17 : 17 + v % 5);
}

#endif
