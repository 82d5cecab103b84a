/*
 * hash_lookup.c: a big chained hash table of small nodes, then random lookups
 * (issue 24, huge pages).
 *
 * Models: in-memory indexes, caches and symbol tables: a bucket array and one small
 * node per entry, looked up at random. Every lookup reads a random bucket and one or
 * two random nodes, so it misses the cache and, with 4 KiB pages, the TLB.
 *
 * One thread allocates the bucket array (one pointer per entry, rounded up to a power
 * of two: 64 MiB for 8 M entries, itself from malloc) and then one 32-byte node per
 * entry ({key, value, next, check}), in key order, each pushed on the head of its
 * bucket's chain. Keys are the entry numbers through a bijective mixer, so they are
 * distinct and spread evenly. Then `lookups` random lookups, half of inserted keys
 * and half of keys never inserted, are timed on their own (lookup_s). Then every node
 * and the bucket array are freed, bucket by bucket.
 *
 * Usage: hash_lookup [threads=1, must be 1] [entries=8000000] [--lookups entries]
 * Checks: a found node holds the value and check word of its key; every inserted key
 * looked up is found and no other; mallocs == frees (entries + 1, the bucket array).
 * Prints: ok name=hash-lookup entries=N buckets=N lookups=N hits=N frees=N build_s=S
 *         lookup_s=S lookup_cpu_s=S ns_per_lookup=X free_s=S rss_mib=X huge_mib=X huge_share=X
 *   lookup_cpu_s   the lookups' CPU time (on a shared machine, less disturbed than lookup_s)
 *   ns_per_lookup  lookup_cpu_s over lookups
 *   rss_mib, huge_mib, huge_share  after the build, before the lookups (smaps.h)
 */
#include "common.h"
#include "smaps.h"

typedef struct hnode {
  uint64_t key;
  uint64_t value;
  struct hnode *next;
  uint64_t check;
} hnode_t;

typedef struct {
  hnode_t **buckets;
  uint64_t mask;
} table_t;

/* splitmix64's finalizer: a bijection, so distinct numbers give distinct keys. */
static inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

static inline uint64_t key_of(uint64_t entry) { return mix(entry + 1); }
static inline uint64_t bucket_of(const table_t *t, uint64_t key) { return mix(key ^ 0x5bd1e995ull) & t->mask; }

static void build(table_t *t, long entries) {
  uint64_t n = 1;
  while (n < (uint64_t)entries) n <<= 1;
  t->mask = n - 1;
  t->buckets = calloc(n, sizeof(hnode_t *));
  if (!t->buckets) die("hash_lookup: calloc of %llu buckets returned NULL", (unsigned long long)n);
  for (long i = 0; i < entries; i++) {
    hnode_t *h = malloc(sizeof *h);
    if (!h) die("hash_lookup: malloc(%zu) returned NULL", sizeof *h);
    uint64_t key = key_of((uint64_t)i), b = bucket_of(t, key);
    *h = (hnode_t){ .key = key, .value = (uint64_t)i, .next = t->buckets[b], .check = ~key };
    t->buckets[b] = h;
  }
}

static const hnode_t *find(const table_t *t, uint64_t key) {
  for (const hnode_t *h = t->buckets[bucket_of(t, key)]; h; h = h->next) {
    if (h->key != key) continue;
    if (h->check != ~key) die("hash_lookup: node %p was overwritten", (const void *)h);
    return h;
  }
  return NULL;
}

/* Looks up random keys, half inserted; returns the number found. */
static long look_up(const table_t *t, long entries, long lookups) {
  rng_t rng = rng_seed(2424);
  long hits = 0;
  for (long j = 0; j < lookups; j++) {
    uint64_t entry = rng_next(&rng) % (2 * (uint64_t)entries);
    const hnode_t *h = find(t, key_of(entry));
    int inserted = entry < (uint64_t)entries;
    if ((h != NULL) != inserted || (h && h->value != entry))
      die("hash_lookup: key of entry %llu %s", (unsigned long long)entry,
          inserted ? "lost" : "found but never inserted");
    hits += inserted;
  }
  return hits;
}

static long free_all(table_t *t) {
  long frees = 0;
  for (uint64_t b = 0; b <= t->mask; b++) {
    for (hnode_t *h = t->buckets[b], *next; h; h = next) {
      next = h->next;
      free(h);
      frees++;
    }
  }
  free(t->buckets);
  return frees + 1;
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 1);
  long entries = arg_pos(argc, argv, 2, 8000000);
  long lookups = arg_flag(argc, argv, "--lookups", entries);
  if (threads != 1 || entries < 1 || lookups < 1) die("hash_lookup: bad arguments");

  table_t t;
  uint64_t t0 = now_ns();
  build(&t, entries);
  double build_s = secs_since(t0);
  pages_t pages = pages_now();
  t0 = now_ns();
  uint64_t cpu0 = cpu_now_ns();
  long hits = look_up(&t, entries, lookups);
  double lookup_s = secs_since(t0), lookup_cpu_s = (double)(cpu_now_ns() - cpu0) / 1e9;
  t0 = now_ns();
  long frees = free_all(&t);
  double free_s = secs_since(t0);
  if (frees != entries + 1) die("hash_lookup: %ld entries and the buckets, %ld frees", entries, frees);

  printf("ok name=hash-lookup entries=%ld buckets=%llu lookups=%ld hits=%ld frees=%ld build_s=%.3f lookup_s=%.3f"
         " lookup_cpu_s=%.3f ns_per_lookup=%.1f free_s=%.3f",
         entries, (unsigned long long)t.mask + 1, lookups, hits, frees, build_s, lookup_s, lookup_cpu_s,
         lookup_cpu_s * 1e9 / (double)lookups, free_s);
  print_pages("", pages);
  printf("\n");
  return 0;
}
