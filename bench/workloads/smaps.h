/*
 * smaps.h: the process's resident memory and the part of it on huge pages, from
 * /proc/self/smaps_rollup, for the huge-page workloads (pointer_chase, hash_lookup,
 * sparse_release).
 *
 * The file is read with open and read into a static buffer, never through stdio, so
 * a reading never calls the allocator under test and leaves its heap as it was.
 *
 * The huge-page share is (AnonHugePages + Private_Hugetlb + Shared_Hugetlb) /
 * (Anonymous + Private_Hugetlb + Shared_Hugetlb): how much of the process's anonymous
 * memory (its heap, plus stacks and the workload's own tables, a few MiB) sits on
 * 2 MiB pages, transparent (THP) or from hugetlbfs. hugetlbfs pages count in neither
 * Rss nor Anonymous, so they are added to both here; RSS is Rss plus them.
 * LazyFree is memory freed with MADV_FREE that the kernel has not taken back yet: it
 * still counts in Rss.
 */
#ifndef ZM_BENCH_SMAPS_H
#define ZM_BENCH_SMAPS_H

#include "common.h"

#include <fcntl.h>
#include <unistd.h>

typedef struct {
  long rss_kib, anon_kib, anon_huge_kib, hugetlb_kib, lazyfree_kib;
} pages_t;

/* The value in kB of the line `name:` of smaps_rollup's text, or 0. */
static inline long smaps_field(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *p = text; *p; p++) {
    if ((p == text || p[-1] == '\n') && strncmp(p, name, n) == 0 && p[n] == ':')
      return strtol(p + n + 1, NULL, 10);
  }
  return 0;
}

static inline pages_t pages_now(void) {
  static char buf[8192];
  int fd = open("/proc/self/smaps_rollup", O_RDONLY);
  if (fd < 0) die("smaps: cannot open /proc/self/smaps_rollup");
  size_t have = 0;
  ssize_t n;
  while (have < sizeof buf - 1 && (n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) have += (size_t)n;
  close(fd);
  buf[have] = 0;
  pages_t p = { .rss_kib = smaps_field(buf, "Rss"), .anon_kib = smaps_field(buf, "Anonymous"),
                .anon_huge_kib = smaps_field(buf, "AnonHugePages"),
                .hugetlb_kib = smaps_field(buf, "Private_Hugetlb") + smaps_field(buf, "Shared_Hugetlb"),
                .lazyfree_kib = smaps_field(buf, "LazyFree") };
  if (p.rss_kib == 0) die("smaps: no Rss in /proc/self/smaps_rollup");
  p.rss_kib += p.hugetlb_kib;
  return p;
}

static inline double huge_share(pages_t p) {
  long anon = p.anon_kib + p.hugetlb_kib;
  return anon > 0 ? (double)(p.anon_huge_kib + p.hugetlb_kib) / (double)anon : 0.0;
}

/* Prints ` rss<suffix>_mib=X huge<suffix>_mib=X huge_share<suffix>=X` (suffix "" or "_after", say). */
static inline void print_pages(const char *suffix, pages_t p) {
  printf(" rss%s_mib=%.1f huge%s_mib=%.1f huge_share%s=%.3f", suffix, (double)p.rss_kib / 1024.0, suffix,
         (double)(p.anon_huge_kib + p.hugetlb_kib) / 1024.0, suffix, huge_share(p));
}

#endif /* ZM_BENCH_SMAPS_H */
