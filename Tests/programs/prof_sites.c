/*
 * prof_sites.c: a program whose allocation sites are known, for the heap profiler.
 *
 * Usage: prof_sites [MiB]   (default 1024: the bytes allocated in all, about)
 *
 * Three sites share the bytes: hot_a about 60%, hot_b 30% and cold_c 10%, in blocks of
 * many sizes (small, medium and a few big ones; every size is a multiple of 16 and a
 * class size, so class rounding does not move the shares). tiny() adds many 16..64 B
 * blocks, about 3% of the bytes. hot_a frees each block at once; hot_b keeps its last
 * 64 MiB live and cold_c its last 16 MiB, so at the peak hot_b holds most of the live
 * bytes. Everything is freed at the end. The last line is the truth, in bytes:
 *   truth hot_a=N hot_b=N cold_c=N tiny=N total=N
 */
#include "common.h"

#define RING 8192

static volatile uintptr_t sink;
static uint64_t state = 0x9e3779b97f4a7c15ULL;
static size_t sizes[] = {256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072};

static uint64_t next_random(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static size_t any_size(void) {
  uint64_t r = next_random();
  if (r % 512 == 0) return (size_t)1 << 20; /* now and then a big block */
  return sizes[r % (sizeof sizes / sizeof sizes[0])];
}

/* A ring of live blocks: the oldest go once `keep` bytes are live. */
struct ring {
  void *blocks[RING];
  size_t lengths[RING];
  size_t head, tail, count, live, keep;
};

static void ring_drop_oldest(struct ring *r) {
  free(r->blocks[r->tail]);
  r->live -= r->lengths[r->tail];
  r->tail = (r->tail + 1) % RING;
  r->count--;
}

static void ring_put(struct ring *r, void *p, size_t n) {
  while (r->count && (r->live + n > r->keep || r->count == RING)) ring_drop_oldest(r);
  r->blocks[r->head] = p;
  r->lengths[r->head] = n;
  r->head = (r->head + 1) % RING;
  r->count++;
  r->live += n;
}

static void ring_clear(struct ring *r) {
  while (r->count) ring_drop_oldest(r);
}

static struct ring b_ring = {.keep = 64 << 20}, c_ring = {.keep = 16 << 20};

__attribute__((noinline)) size_t hot_a(void) {
  size_t n = any_size();
  char *p = malloc(n);
  if (!p) ZT_FAIL("hot_a: malloc(%zu)", n);
  p[0] = 1;
  sink = (uintptr_t)p;
  free(p);
  return n;
}

__attribute__((noinline)) size_t hot_b(void) {
  size_t n = any_size();
  char *p = malloc(n);
  if (!p) ZT_FAIL("hot_b: malloc(%zu)", n);
  p[0] = 2;
  ring_put(&b_ring, p, n);
  return n;
}

__attribute__((noinline)) size_t cold_c(void) {
  size_t n = any_size();
  char *p = malloc(n);
  if (!p) ZT_FAIL("cold_c: malloc(%zu)", n);
  p[0] = 3;
  ring_put(&c_ring, p, n);
  return n;
}

__attribute__((noinline)) size_t tiny(void) {
  size_t total = 0;
  void *blocks[16];
  for (int i = 0; i < 16; i++) {
    size_t n = 16 * (1 + next_random() % 4);
    blocks[i] = malloc(n);
    if (!blocks[i]) ZT_FAIL("tiny: malloc(%zu)", n);
    total += n;
  }
  for (int i = 0; i < 16; i++) free(blocks[i]);
  return total;
}

int main(int argc, char **argv) {
  uint64_t want = (argc > 1 ? strtoull(argv[1], NULL, 10) : 1024) << 20;
  uint64_t a = 0, b = 0, c = 0, t = 0;
  while (a + b + c < want) {
    /* Keep the shares exact as the run goes: each site catches up with its target. */
    uint64_t all = a + b + c + 1;
    if (a * 10 <= all * 6) a += hot_a();
    if (b * 10 <= all * 3) b += hot_b();
    if (c * 10 <= all * 1) c += cold_c();
    if (t * 100 <= all * 3) t += tiny();
  }
  ring_clear(&b_ring);
  ring_clear(&c_ring);
  printf("truth hot_a=%llu hot_b=%llu cold_c=%llu tiny=%llu total=%llu\n", (unsigned long long)a,
         (unsigned long long)b, (unsigned long long)c, (unsigned long long)t,
         (unsigned long long)(a + b + c + t));
  return 0;
}
