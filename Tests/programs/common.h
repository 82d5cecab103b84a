/*
 * common.h: helpers shared by the C test programs of zonemalloc.
 *
 * - ZT_FAIL / ZT_CHECK: report a failed expectation on stderr and exit 1 (or count it).
 * - zt_fill / zt_check: a word pattern derived from (address, size, seed), so a block
 *   that was moved, overlapped, shifted or scribbled on no longer verifies.
 * - zt_rand / zt_skewed_size: a small xorshift generator and a size distribution
 *   skewed to small sizes, as real programs allocate.
 * - zt_now: monotonic seconds, for programs that run for a fixed time.
 */
#ifndef ZT_COMMON_H
#define ZT_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZT_FAIL(...)                                             \
  do {                                                           \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);         \
    fprintf(stderr, __VA_ARGS__);                                \
    fputc('\n', stderr);                                         \
    exit(1);                                                     \
  } while (0)

/* Counts a failed expectation and goes on, so one run reports every broken case. */
static int zt_failures __attribute__((unused));
#define ZT_CHECK(cond, ...)                                      \
  do {                                                           \
    if (!(cond)) {                                               \
      zt_failures++;                                             \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                              \
      fputc('\n', stderr);                                       \
    }                                                            \
  } while (0)

/* Hides a constant from the compiler, so impossible sizes reach the allocator unfolded. */
static inline size_t zt_opaque(size_t x) {
  __asm__ volatile("" : "+r"(x));
  return x;
}

static inline uint64_t zt_mix(uint64_t x) {
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27; x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static inline uint64_t zt_pattern_key(const void *p, size_t n, uint64_t seed) {
  return zt_mix((uint64_t)(uintptr_t)p ^ zt_mix(n + 0x9e3779b97f4a7c15ULL) ^ seed);
}

/* Word k of the pattern is key ^ (k+1) * golden; the tail takes the low bytes of the next word. */
static inline void zt_fill(void *p, size_t n, uint64_t seed) {
  uint64_t key = zt_pattern_key(p, n, seed);
  unsigned char *b = p;
  size_t words = n / 8, k;
  for (k = 0; k < words; k++) {
    uint64_t w = key ^ ((k + 1) * 0x9e3779b97f4a7c15ULL);
    memcpy(b + 8 * k, &w, 8);
  }
  uint64_t w = key ^ ((words + 1) * 0x9e3779b97f4a7c15ULL);
  if (n % 8) memcpy(b + 8 * words, &w, n % 8);
}

/* 1 when the block still holds the pattern that zt_fill wrote for (p, n, seed). */
static inline int zt_check(const void *p, size_t n, uint64_t seed) {
  uint64_t key = zt_pattern_key(p, n, seed);
  const unsigned char *b = p;
  size_t words = n / 8, k;
  for (k = 0; k < words; k++) {
    uint64_t w = key ^ ((k + 1) * 0x9e3779b97f4a7c15ULL), got;
    memcpy(&got, b + 8 * k, 8);
    if (got != w) return 0;
  }
  uint64_t w = key ^ ((words + 1) * 0x9e3779b97f4a7c15ULL);
  return (n % 8) == 0 || memcmp(b + 8 * words, &w, n % 8) == 0;
}

static inline uint64_t zt_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  return *state = x;
}

static inline uint64_t zt_seed_for(uint64_t id) { return zt_mix(id + 0x1234567ULL) | 1; }

/* 1 B .. max, skewed: 70% up to 256 B, 22% up to 8 KiB, 6% up to 128 KiB, 2% up to max. */
static inline size_t zt_skewed_size(uint64_t *st, size_t max) {
  uint64_t r = zt_rand(st), pick = r % 100, v = zt_rand(st);
  size_t hi = pick < 70 ? 256 : pick < 92 ? 8192 : pick < 98 ? 131072 : max;
  if (hi > max) hi = max;
  return 1 + (size_t)(v % hi);
}

static inline double zt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
