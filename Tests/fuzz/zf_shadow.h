/*
 * zf_shadow.h: the fuzzer's model of the heap, and the checks against it.
 *
 * Owns: the table of live blocks (address, requested size, usable size, alignment, fill
 * seed, how it was made, and its worst-case charge while a memory limit is set); the fill
 * pattern, written over every usable byte (zonemalloc.h: "every byte of it may be
 * written") and independent of the address, so that a block that realloc moved still
 * verifies; the checks of a fresh block (alignment, usable size >= size, owned, no
 * overlap with any live block); and the counter check: zm_stats()'s `allocated` moves by
 * exactly the sum of the live blocks' usable sizes (what Stats.swift counts: the chunk
 * size of a small block, the page-rounded length of a big one, a guarded block's chunk).
 * A failed check prints what it saw and aborts, which libFuzzer records as a crash.
 */
#ifndef ZF_SHADOW_H
#define ZF_SHADOW_H

#include <stdint.h>
#include <string.h>

#include "zf_api.h"

#define ZF_SLOTS 64
#define ZF_MAX_LIVE ((size_t)64 << 20) /* the model keeps at most this many bytes live */

typedef struct {
  unsigned char *p; /* NULL: the slot is empty */
  size_t size, usable, align;
  uint64_t seed;
  int kind;
  size_t charge; /* worst case the block adds to the allocator's held bytes, or 0 */
} zf_block;

typedef struct {
  zf_block slot[ZF_SLOTS];
  size_t live_usable, live_requested;
  uint64_t baseline;   /* zm_stats allocated when the input started */
  size_t limit;        /* the cap the harness set (0: none) */
  size_t limit_floor;  /* `mapped` when it was set; 0: no allocation is promised */
  size_t limit_charged;/* sum of charge over live blocks made since */
  uint64_t ops, seeds;
} zf_model;

static zf_model zm;

__attribute__((noreturn, format(printf, 1, 2))) static void zf_fail(const char *format, ...);

static inline uint64_t zf_mix(uint64_t x) {
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27; x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* The pattern loops are left out of the coverage instrumentation: their compares are
 * the same on every input and would cost most of the run's time in trace-cmp hooks. */
#define ZF_PLAIN __attribute__((no_sanitize("coverage"), noinline))

static inline uint64_t zf_word(uint64_t seed, size_t index) { return seed ^ ((index + 1) * 0x9e3779b97f4a7c15ULL); }

/* Word i of the pattern at byte 8i; the tail takes the low bytes of the next word. */
ZF_PLAIN static void zf_fill(unsigned char *p, size_t n, uint64_t seed) {
  size_t words = n / 8, i;
  for (i = 0; i < words; i++) {
    uint64_t w = zf_word(seed, i);
    memcpy(p + 8 * i, &w, 8);
  }
  uint64_t w = zf_word(seed, words);
  memcpy(p + 8 * words, &w, n % 8);
}

/* The offset of the first byte of [0, n) that differs from the pattern, or n. */
ZF_PLAIN static size_t zf_first_difference(const unsigned char *p, size_t n, uint64_t seed) {
  size_t words = n / 8, i;
  for (i = 0; i < words; i++) {
    uint64_t w = zf_word(seed, i), got;
    memcpy(&got, p + 8 * i, 8);
    if (got != w) break;
  }
  unsigned char expect[8];
  for (size_t at = 8 * i; at < n; at++) {
    if (at % 8 == 0 || at == 8 * i) {
      uint64_t w = zf_word(seed, at / 8);
      memcpy(expect, &w, 8);
    }
    if (p[at] != expect[at % 8]) return at;
  }
  return n;
}

/* The offset of the first non-zero byte of [0, n), or n. */
ZF_PLAIN static size_t zf_first_nonzero(const unsigned char *p, size_t n) {
  size_t at = 0;
  for (; at + 8 <= n; at += 8) {
    uint64_t w;
    memcpy(&w, p + at, 8);
    if (w) break;
  }
  while (at < n && !p[at]) at++;
  return at;
}

/* Aborts unless the first n bytes of p hold the pattern of seed. */
static void zf_expect_pattern(const unsigned char *p, size_t n, uint64_t seed, const char *when, const zf_block *b) {
  size_t at = zf_first_difference(p, n, seed);
  if (at < n)
    zf_fail("%s: byte %zu of %zu differs (block %p, size %zu, usable %zu, kind %d): 0x%02x", when, at, n,
            (void *)p, b->size, b->usable, b->kind, p[at]);
}

static void zf_check_block(const zf_block *b, const char *when) {
  zf_expect_pattern(b->p, b->usable, b->seed, when, b);
}

static void zf_check_all(const char *when) {
  for (int i = 0; i < ZF_SLOTS; i++)
    if (zm.slot[i].p) zf_check_block(&zm.slot[i], when);
}

static uint64_t zf_allocated(void) {
  zm_stats_t s;
  zf.stats(&s);
  return s.allocated;
}

/* The allocator's `allocated` must be the baseline plus the live blocks' usable bytes. */
static void zf_check_counters(const char *after) {
  uint64_t now = zf_allocated(), expect = zm.baseline + zm.live_usable;
  if (now != expect)
    zf_fail("after %s: zm_stats allocated %llu, expected %llu (baseline %llu + %zu usable bytes live)", after,
            (unsigned long long)now, (unsigned long long)expect, (unsigned long long)zm.baseline, zm.live_usable);
}

/* After an operation whose failure path may allocate outside the model (libstdc++'s
 * operator new retry: dlopen, the bad_alloc exception), the baseline is taken again. */
static void zf_rebaseline(void) { zm.baseline = zf_allocated() - zm.live_usable; }

/* The most a block of `usable` bytes aligned to `align` can add to the held bytes: a new
 * 64 KiB slab for a small chunk, whole granules for a span, the mapping (over-mapped by
 * the alignment, then trimmed) for a big block. */
static size_t zf_worst_charge(size_t usable, size_t align) {
  size_t granule = (size_t)64 << 10;
  if (usable <= ((size_t)16 << 10) && align <= 4096) return granule;
  return (usable + align + 2 * granule - 1) / granule * granule;
}

/* Checks a block the allocator just handed out and enters it in slot i. */
static void zf_adopt(int i, void *ptr, size_t size, size_t align, int kind) {
  unsigned char *p = ptr;
  if ((uintptr_t)p % align) zf_fail("block %p of %zu bytes is not %zu-aligned (kind %d)", ptr, size, align, kind);
  size_t usable = zf.malloc_usable_size(p);
  if (usable < size) zf_fail("malloc_usable_size(%p) = %zu < %zu requested", ptr, usable, size);
  if (zf.owns(p) != 1) zf_fail("zm_owns(%p) = 0 for a block just handed out (%zu bytes)", ptr, size);
  for (int j = 0; j < ZF_SLOTS; j++) {
    const zf_block *o = &zm.slot[j];
    if (o->p && j != i && p < o->p + o->usable && o->p < p + usable)
      zf_fail("block %p+%zu overlaps live block %p+%zu (slot %d)", ptr, usable, (void *)o->p, o->usable, j);
  }
  zf_block *b = &zm.slot[i];
  *b = (zf_block){.p = p, .size = size, .usable = usable, .align = align, .kind = kind,
                  .seed = zf_mix(++zm.seeds ^ (uintptr_t)p)};
  if (zm.limit && zm.limit_floor) {
    b->charge = zf_worst_charge(usable, align);
    zm.limit_charged += b->charge;
  }
  zm.live_usable += usable;
  zm.live_requested += size;
  zf_fill(p, usable, b->seed);
}

/* Takes slot i out of the model (the block is about to be released or was moved). */
static void zf_forget(int i) {
  zf_block *b = &zm.slot[i];
  zm.live_usable -= b->usable;
  zm.live_requested -= b->size;
  zm.limit_charged -= b->charge;
  b->p = NULL;
}

/* Whether the model promises that an allocation of `size` (alignment `align`) succeeds:
 * no limit, or the held bytes when it was set plus the worst charge of every block made
 * since and of this one, plus 2 MiB, fit under it. */
static int zf_must_succeed(size_t size, size_t align) {
  if (!zm.limit) return 1;
  if (!zm.limit_floor) return 0;
  return zm.limit_floor + zm.limit_charged + zf_worst_charge(size, align) + ((size_t)2 << 20) <= zm.limit;
}

#endif
