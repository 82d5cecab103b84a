/*
 * common.h: the small toolkit every zonemalloc benchmark workload shares.
 *
 * It holds only header-local (static) helpers, so each workload stays a single
 * translation unit built with `cc -O2 -pthread`:
 *   - a monotonic clock in nanoseconds, a sleep until a time on it, and the
 *     process's CPU time (all threads), which a busy shared machine disturbs less,
 *   - a seeded xorshift random generator (deterministic per thread),
 *   - content patterns written into blocks and checked before they are freed
 *     (end tags for small blocks, page stamps for big ones),
 *     so an allocator that hands out overlapping or corrupted memory makes the
 *     workload fail instead of look fast,
 *   - a `die` that prints a one-line FAIL message and exits with status 1,
 *   - parsing of the positional `threads scale` arguments and of `--flag value`,
 *   - an optional look-up of zonemalloc's zm_stats through dlsym, so a workload
 *     can print zonemalloc's counters when it runs under it and still works
 *     under any other allocator.
 *
 * Output convention: a workload prints free-form lines, then exactly one final
 * line `ok name=... key=value ...` on stdout when every check passed.
 */
#ifndef ZM_BENCH_COMMON_H
#define ZM_BENCH_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zonemalloc.h"

#define BENCH_PAGE 4096u

/* ---- failing ---------------------------------------------------------------- */

static inline void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stdout);
  exit(1);
}

/* ---- time -------------------------------------------------------------------- */

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double secs_since(uint64_t start_ns) {
  return (double)(now_ns() - start_ns) / 1e9;
}

/* CPU time used so far by all threads of the process, in nanoseconds. */
static inline uint64_t cpu_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleeps until the CLOCK_MONOTONIC time t_ns (now_ns's clock). */
static inline void sleep_until(uint64_t t_ns) {
  struct timespec ts = { (time_t)(t_ns / 1000000000ull), (long)(t_ns % 1000000000ull) };
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

/* ---- random numbers (xorshift64*) -------------------------------------------- */

typedef struct { uint64_t s; } rng_t;

/* A live block a workload keeps in a table: where, how big, and the tag its content
 * was stamped with (checked before it is freed). */
typedef struct {
  void *ptr;
  size_t size;
  uint64_t tag;
} slot_t;

static inline rng_t rng_seed(uint64_t seed) {
  rng_t r = { seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull };
  if (r.s == 0) r.s = 1;
  return r;
}

static inline uint64_t rng_next(rng_t *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi) {
  return lo + rng_next(r) % (hi - lo + 1);
}

/* Log-uniform in [lo, hi]: as many blocks between 32K and 64K as between 2M and 4M. */
static inline uint64_t rng_log_range(rng_t *r, uint64_t lo, uint64_t hi) {
  int lo_bit = 63 - __builtin_clzll(lo), hi_bit = 63 - __builtin_clzll(hi);
  int bit = (int)rng_range(r, (uint64_t)lo_bit, (uint64_t)hi_bit);
  uint64_t base = 1ull << bit;
  uint64_t v = base + rng_next(r) % base;
  return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- content patterns --------------------------------------------------------- */

/* The 64-bit word stored at word index i of a block stamped with tag. */
static inline uint64_t pat_word(uint64_t tag, size_t i) {
  return tag ^ ((uint64_t)i * 0xD6E8FEB86659FD93ull);
}

/* Fills all n bytes of p: whole words from pat_word, tail bytes from the tag. */
static inline void pat_fill(void *p, size_t n, uint64_t tag) {
  uint64_t *w = (uint64_t *)p;
  size_t words = n / 8;
  for (size_t i = 0; i < words; i++) w[i] = pat_word(tag, i);
  unsigned char *b = (unsigned char *)p;
  for (size_t i = words * 8; i < n; i++) b[i] = (unsigned char)(tag >> (8 * (i & 7)));
}

/* Returns 1 when all n bytes still hold the pattern pat_fill wrote. */
static inline int pat_check(const void *p, size_t n, uint64_t tag) {
  const uint64_t *w = (const uint64_t *)p;
  size_t words = n / 8;
  for (size_t i = 0; i < words; i++)
    if (w[i] != pat_word(tag, i)) return 0;
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = words * 8; i < n; i++)
    if (b[i] != (unsigned char)(tag >> (8 * (i & 7)))) return 0;
  return 1;
}

/* Cheap stamp for small-object churn: the tag in the first word and its complement
 * in the last 8 bytes (the whole pattern for blocks under 16 bytes). Overlapping
 * blocks still collide on these words, while the cost stays far below the allocator's. */
static inline void ends_stamp(void *p, size_t n, uint64_t tag) {
  if (n < 16) { pat_fill(p, n, tag); return; }
  uint64_t inv = ~tag;
  memcpy(p, &tag, 8);
  memcpy((char *)p + n - 8, &inv, 8);
}

static inline int ends_check(const void *p, size_t n, uint64_t tag) {
  if (n < 16) return pat_check(p, n, tag);
  uint64_t head, tail;
  memcpy(&head, p, 8);
  memcpy(&tail, (const char *)p + n - 8, 8);
  return head == tag && tail == ~tag;
}

/* For big blocks: stamps the first and last byte of every page-sized stretch
 * (offsets k*4096 and k*4096+4095, the last one clipped to the block's last byte),
 * and the tag itself over the first 8 bytes. */
static inline void page_stamp(void *p, size_t n, uint64_t tag) {
  unsigned char *b = (unsigned char *)p;
  for (size_t off = 0; off < n; off += BENCH_PAGE) {
    size_t last = off + BENCH_PAGE - 1 < n ? off + BENCH_PAGE - 1 : n - 1;
    b[off] = (unsigned char)(tag + off / BENCH_PAGE);
    b[last] = (unsigned char)(tag ^ 0x5A ^ (off / BENCH_PAGE));
  }
  if (n >= 8) memcpy(b, &tag, 8);
}

static inline int page_check(const void *p, size_t n, uint64_t tag) {
  const unsigned char *b = (const unsigned char *)p;
  if (n >= 8 && memcmp(b, &tag, 8) != 0) return 0;
  for (size_t off = 0; off < n; off += BENCH_PAGE) {
    size_t last = off + BENCH_PAGE - 1 < n ? off + BENCH_PAGE - 1 : n - 1;
    if (off >= 8 && last != off && b[off] != (unsigned char)(tag + off / BENCH_PAGE)) return 0;
    if (last >= 8 && b[last] != (unsigned char)(tag ^ 0x5A ^ (off / BENCH_PAGE))) return 0;
  }
  return 1;
}

/* For a block of any size in a slot: end tags under a page, page stamps from a page
 * up (so every page of a big block is resident). */
static inline void slot_stamp(const slot_t *s) {
  if (s->size < BENCH_PAGE) ends_stamp(s->ptr, s->size, s->tag);
  else page_stamp(s->ptr, s->size, s->tag);
}

static inline int slot_intact(const slot_t *s) {
  return s->size < BENCH_PAGE ? ends_check(s->ptr, s->size, s->tag) : page_check(s->ptr, s->size, s->tag);
}

/* ---- arguments ------------------------------------------------------------------ */

/* Positional argument `index` (1-based, flags skipped) as a number, or fallback. */
static inline long arg_pos(int argc, char **argv, int index, long fallback) {
  int seen = 0;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) == 0) { i++; continue; }
    if (++seen == index) return strtol(argv[i], NULL, 10);
  }
  return fallback;
}

/* Value of `--name N`, or fallback when the flag is absent. */
static inline long arg_flag(int argc, char **argv, const char *name, long fallback) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return strtol(argv[i + 1], NULL, 10);
  return fallback;
}

/* Parses sizes such as 256M, 1G, 512K or plain bytes; 0 when unparsable. */
static inline size_t parse_size(const char *s) {
  if (!s || !*s) return 0;
  char *end;
  double v = strtod(s, &end);
  switch (*end) {
    case 'k': case 'K': v *= 1024.0; break;
    case 'm': case 'M': v *= 1024.0 * 1024.0; break;
    case 'g': case 'G': v *= 1024.0 * 1024.0 * 1024.0; break;
    default: break;
  }
  return v > 0 ? (size_t)v : 0;
}

/* ---- zonemalloc statistics (optional) -------------------------------------------- */

typedef void (*zm_stats_fn)(zm_stats_t *);

/* Fills *out and returns 1 under zonemalloc; returns 0 under any other allocator. */
static inline int zm_snapshot(zm_stats_t *out) {
  zm_stats_fn fn = (zm_stats_fn)dlsym(RTLD_DEFAULT, "zm_stats");
  if (!fn) return 0;
  memset(out, 0, sizeof *out);
  fn(out);
  return 1;
}

#endif /* ZM_BENCH_COMMON_H */
