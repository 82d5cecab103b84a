/*
 * api_fuzzer.c: a libFuzzer harness over the whole allocation API of libzonemalloc.so.
 *
 * Owns: the operations. An input is a stream of operations, each an opcode byte and its
 * arguments (zf_input.h): malloc, calloc, realloc, reallocarray, free (and sized delete,
 * and free_sized where exported), aligned_alloc, posix_memalign, memalign, valloc,
 * pvalloc, operator new and new[] (plain, nothrow, aligned) paired with the matching
 * delete, malloc_usable_size and zm_owns, zm_set_limit, zm_purge and malloc_trim, on 64
 * slots of live blocks. Every result is checked against the shadow model (zf_shadow.h):
 * NULL only with ENOMEM (or EINVAL for a bad alignment) and only for a size no allocator
 * can serve or a request the memory limit may refuse; alignment; usable size; no overlap;
 * the pattern in every usable byte before each free and realloc; realloc keeps the
 * smaller of the old usable size and the new size; calloc zeroed; and zm_stats()'s
 * `allocated` after every operation. At the end of an input every block is checked and
 * released, the counter must be back at its baseline (nothing leaked) and the limit is
 * removed. Build and run: Tests/fuzz/README.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>

#include "zf_api.h"
#include "zf_input.h"
#include "zf_shadow.h"

static const char *zf_op = "start"; /* the operation running, for failure reports */

static void zf_fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fprintf(stderr, "zf: FAILED in op %llu (%s): ", (unsigned long long)zm.ops, zf_op);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  abort();
}

/* A NULL from an allocation: allowed only with the errno `expect` and, for ENOMEM, only
 * when the size is impossible or the limit may refuse it. */
static void zf_null(const char *what, size_t size, size_t align, int error, int expect) {
  if (error != expect) zf_fail("%s(%zu) returned NULL with errno %d, expected %d", what, size, error, expect);
  if (expect == ENOMEM && !zf_is_impossible(size) && zf_must_succeed(size, align))
    zf_fail("%s(%zu, alignment %zu) returned NULL (limit %zu, held at set %zu, charged since %zu)", what, size, align,
            zm.limit, zm.limit_floor, zm.limit_charged);
}

/* The result of an allocation into the empty slot i. */
static void zf_result(int i, void *p, const char *what, size_t size, size_t align, int kind, int error) {
  if (!p) {
    zf_null(what, size, align, error, ENOMEM);
    return;
  }
  if (zf_is_impossible(size)) zf_fail("%s(%zu) returned %p for an impossible size", what, size, p);
  zf_adopt(i, p, size, align, kind);
}

/* Empties slot i: checks its block and releases it as it was made (deleter `how`). */
static void zf_drop(int i, int how) {
  zf_block *b = &zm.slot[i];
  if (!b->p) return;
  zf_check_block(b, "before release");
  unsigned char *p = b->p;
  size_t size = b->size, align = b->align;
  int kind = b->kind;
  zf_forget(i);
  zf_release(kind, how, p, size, align);
}

static int zf_too_much(size_t size) { return !zf_is_impossible(size) && zm.live_usable + size > ZF_MAX_LIVE; }

static void zf_malloc(int i, zf_reader *r) {
  size_t size = zf_size(r);
  if (zf_too_much(size)) return;
  errno = 0;
  void *p = zf.malloc(size);
  zf_result(i, p, "malloc", size, 16, ZF_MALLOC, errno);
}

/* realloc or reallocarray of slot i to total bytes (overflowed: count * size overflowed). */
static void zf_realloc(int i, zf_reader *r, int array) {
  zf_block *b = &zm.slot[i];
  size_t total, count = 1, size = zf_size(r);
  int overflowed = 0;
  if (array) {
    count = zf_u8(r) % 4 == 0 ? SIZE_MAX / 3 : zf_u8(r) % 8;
    overflowed = __builtin_mul_overflow(count, size, &total);
  } else {
    total = size;
  }
  if (!overflowed && zf_too_much(total)) return;
  if (b->p && b->kind != ZF_MALLOC) { /* realloc is for malloc's blocks: release it instead */
    zf_drop(i, zf_u8(r));
    return;
  }
  if (b->p) zf_check_block(b, "before realloc");
  zf_block old = *b;
  errno = 0;
  void *q = array ? zf.reallocarray(b->p, count, size) : zf.realloc(b->p, total);
  int error = errno;
  const char *what = array ? "reallocarray" : "realloc";
  if (overflowed) {
    if (q || error != ENOMEM) zf_fail("reallocarray(%zu * %zu) overflows: got %p, errno %d", count, size, q, error);
    if (old.p) zf_check_block(b, "after a failed reallocarray");
    return;
  }
  if (old.p && total == 0) { /* glibc: frees the block and returns NULL */
    if (q) zf_fail("%s(%p, 0) returned %p, not NULL", what, (void *)old.p, q);
    zf_forget(i);
    return;
  }
  if (!q) {
    zf_null(what, total, 16, error, ENOMEM);
    if (old.p) zf_check_block(b, "after a failed realloc (the old block must be untouched)");
    return;
  }
  if (old.p) {
    size_t kept = old.usable < total ? old.usable : total;
    zf_expect_pattern(q, kept, old.seed, "realloc kept contents", &old);
    zf_forget(i);
  }
  zf_result(i, q, what, total, 16, ZF_MALLOC, 0);
}

static void zf_calloc(int i, zf_reader *r) {
  size_t count = zf_u8(r) % 16 == 0 ? SIZE_MAX / 2 : zf_u8(r) % 9, size = zf_size(r), total;
  int overflowed = __builtin_mul_overflow(count, size, &total);
  if (!overflowed && zf_too_much(total)) return;
  errno = 0;
  unsigned char *p = zf.calloc(count, size);
  int error = errno;
  if (overflowed) {
    if (p || error != ENOMEM) zf_fail("calloc(%zu, %zu) overflows: got %p, errno %d", count, size, (void *)p, error);
    return;
  }
  size_t nonzero = p ? zf_first_nonzero(p, total) : total;
  if (nonzero < total)
    zf_fail("calloc(%zu, %zu) = %p: byte %zu is 0x%02x, not zero", count, size, (void *)p, nonzero, p[nonzero]);
  zf_result(i, p, "calloc", total, 16, ZF_MALLOC, error);
}

/* aligned_alloc, posix_memalign or memalign, with now and then an invalid alignment. */
static void zf_aligned(int i, zf_reader *r, int which) {
  size_t align = zf_alignment(r), size = zf_size(r);
  uint8_t twist = zf_u8(r);
  int invalid = 0;
  if (twist % 16 == 0) {
    align = which == 1 ? (twist & 16 ? 4 : 24) : 3 * align + (twist & 32 ? 0 : 3); /* not a power of two */
    invalid = which != 2; /* memalign rounds it up */
  }
  if (which == 1 && align < sizeof(void *)) invalid = 1;
  if (zf_too_much(size)) return;
  size_t expect = 1;
  while (expect < align) expect <<= 1; /* what memalign rounds to */
  void *p = NULL;
  errno = 0;
  if (which == 0) {
    p = zf.aligned_alloc(align, size);
  } else if (which == 1) {
    void *out = (void *)0x5a5a;
    int rc = zf.posix_memalign(&out, align, size);
    if (rc == 0) p = out;
    else if (out != (void *)0x5a5a) zf_fail("posix_memalign returned %d but wrote %p", rc, out);
    else if (rc != (invalid ? EINVAL : ENOMEM)) zf_fail("posix_memalign(%zu, %zu) returned %d", align, size, rc);
  } else {
    p = zf.memalign(align, size);
  }
  int error = which == 1 && invalid ? EINVAL : errno; /* posix_memalign's EINVAL is its return value */
  static const char *const names[] = {"aligned_alloc", "posix_memalign", "memalign"};
  if (invalid) {
    if (p || error != EINVAL) zf_fail("%s(%zu, %zu): got %p, errno %d, expected EINVAL", names[which], align, size, p, error);
    return;
  }
  zf_result(i, p, names[which], size, expect < 16 ? 16 : expect, ZF_MALLOC, error);
}

static void zf_page_aligned(int i, zf_reader *r, int pvalloc) {
  size_t size = zf_size(r);
  if (zf_too_much(size)) return;
  errno = 0;
  void *p = pvalloc ? zf.pvalloc(size) : zf.valloc(size);
  int error = errno;
  if (p && pvalloc && zf.malloc_usable_size(p) < ((size ? size : 1) + 4095) / 4096 * 4096)
    zf_fail("pvalloc(%zu) = %p has only %zu usable bytes", size, p, zf.malloc_usable_size(p));
  zf_result(i, p, pvalloc ? "pvalloc" : "valloc", size, 4096, ZF_MALLOC, error);
}

/* operator new or new[], plain or aligned; the throwing forms only where the model
 * promises success (a throw cannot cross this C frame). */
static void zf_new(int i, zf_reader *r) {
  static const char nothrow_tag = 0;
  int kind = 1 + zf_u8(r) % 4, nothrow = zf_u8(r) % 2;
  size_t size = zf_size(r), align = kind >= ZF_NEW_ALIGNED ? (size_t)16 << zf_u8(r) % 9 : 16;
  if (zf_too_much(size)) return;
#ifdef ZF_ASAN
  /* A refused new goes on to libstdc++'s operator new, which ASan's runtime owns there. */
  if (zf_is_impossible(size) || zm.limit) return;
#endif
  if (zf_is_impossible(size) || zm.limit || !zf_must_succeed(size, align)) nothrow = 1;
  void *p;
  if (kind < ZF_NEW_ALIGNED) p = nothrow ? zf.new_nothrow[kind](size, &nothrow_tag) : zf.new_plain[kind](size);
  else p = nothrow ? zf.new_aligned_nothrow[kind](size, align, &nothrow_tag) : zf.new_aligned[kind](size, align);
  if (!p) {
    zf_null("operator new", size, align, ENOMEM, ENOMEM);
    zf_rebaseline();
    return;
  }
  zf_result(i, p, "operator new", size, align, kind, 0);
}

/* malloc_usable_size and zm_owns agree with the model; the program then rewrites it. */
static void zf_touch(int i) {
  zf_block *b = &zm.slot[i];
  if (!b->p) return;
  size_t usable = zf.malloc_usable_size(b->p);
  if (usable != b->usable) zf_fail("malloc_usable_size(%p) = %zu, was %zu", (void *)b->p, usable, b->usable);
  if (zf.owns(b->p) != 1) zf_fail("zm_owns(%p) = 0 for a live block", (void *)b->p);
  zf_check_block(b, "before a rewrite");
  b->seed = zf_mix(++zm.seeds);
  zf_fill(b->p, b->usable, b->seed);
}

static void zf_uncharge_all(void) {
  for (int k = 0; k < ZF_SLOTS; k++) zm.slot[k].charge = 0;
  zm.limit_charged = 0;
}

static void zf_limit(zf_reader *r) {
  uint8_t mode = zf_u8(r) % 8;
  uint32_t v = zf_u32(r);
  zm_stats_t s;
  zf.stats(&s);
  size_t cap = mode == 0 ? 1 + v % (ZF_MIB - 1) : mode == 1 ? 0 : mode == 2 ? ZF_MIB : s.mapped + (1 + v % 32) * ZF_MIB;
  int rc = zf.set_limit(cap);
  if (mode == 0) {
    if (rc != EINVAL) zf_fail("zm_set_limit(%zu) returned %d, not EINVAL", cap, rc);
    return;
  }
  if (rc != 0) zf_fail("zm_set_limit(%zu) returned %d", cap, rc);
  zf_uncharge_all();
  zm.limit = cap;
  zm.limit_floor = mode >= 3 ? s.mapped : 0; /* 1 MiB is below what is held: nothing promised */
  zf.stats(&s);
  if (s.limit != cap) zf_fail("zm_stats limit %llu after zm_set_limit(%zu)", (unsigned long long)s.limit, cap);
}

static void zf_purge(zf_reader *r) {
  zm_stats_t before, after;
  zf.stats(&before);
  int trim = zf_u8(r) % 2;
  size_t released = trim ? (size_t)zf.malloc_trim(zf_u8(r)) : zf.purge();
  zf.stats(&after);
  if (after.lazy_cached != 0) zf_fail("%llu bytes still in the lazy cache after a purge", (unsigned long long)after.lazy_cached);
  size_t fell = before.mapped > after.mapped ? before.mapped - after.mapped : 0;
  if (trim ? released != (fell > 0) : released != fell)
    zf_fail("%s returned %zu, mapped fell from %llu to %llu", trim ? "malloc_trim" : "zm_purge", released,
            (unsigned long long)before.mapped, (unsigned long long)after.mapped);
}

static void zf_operation(zf_reader *r) {
  uint8_t op = zf_u8(r) % 18;
  int i = zf_u8(r) % ZF_SLOTS;
  static const char *const names[] = {"malloc", "malloc", "calloc", "realloc", "realloc", "reallocarray", "free",
                                      "free", "aligned_alloc", "posix_memalign", "memalign", "valloc", "pvalloc",
                                      "operator new", "usable size", "zm_set_limit", "zm_purge", "check"};
  zf_op = names[op];
  if (op <= 2 || (op >= 8 && op <= 13))
    zf_drop(i, zf_u8(r)); /* an allocation replaces what the slot held */
  switch (op) {
  case 0: case 1: zf_malloc(i, r); break;
  case 2: zf_calloc(i, r); break;
  case 3: case 4: case 5: zf_realloc(i, r, op == 5); break;
  case 6: case 7: zf_drop(i, zf_u8(r)); break;
  case 8: case 9: case 10: zf_aligned(i, r, op - 8); break;
  case 11: case 12: zf_page_aligned(i, r, op == 12); break;
  case 13: zf_new(i, r); break;
  case 14: zf_touch(i); break;
  case 15: zf_limit(r); break;
  case 16: zf_purge(r); break;
  default: zf_check_all("a full check"); break;
  }
}

#ifdef ZF_PLANTED
void *(*zf_planted_realloc(void *(*real)(void *, size_t), size_t (*usable)(void *)))(void *, size_t);
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  zf_api_load();
#ifdef ZF_PLANTED
  zf.realloc = zf_planted_realloc(zf.realloc, zf.malloc_usable_size);
#endif
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  zf_reader r = {data, size};
  memset(&zm, 0, sizeof zm);
  zm.baseline = zf_allocated();
  zm.seeds = size;
  while (r.n) {
    zm.ops++;
    zf_operation(&r);
    zf_check_counters(zf_op);
    if (zm.ops % 16 == 0) zf_check_all("the periodic check");
  }
  zf_op = "end of input";
  zf_check_all("the end of the input");
  for (int i = 0; i < ZF_SLOTS; i++) zf_drop(i, (unsigned)i);
  zf_check_counters("the final frees");
  if (zf.set_limit(0) != 0) zf_fail("zm_set_limit(0) failed");
  return 0;
}
