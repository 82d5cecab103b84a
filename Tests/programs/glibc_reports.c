/*
 * glibc_reports.c: glibc's own ways of asking the allocator about itself and its
 * failing alignment calls, run once under glibc and once with zonemalloc preloaded; the
 * test compares the two.
 *
 * Prints, one "name=value" line each (values in decimal; errno is set to 1234 before
 * each call, so "errno=1234" means the call left it alone):
 *   memalign       memalign(2^63, 2^63): null=1|0 errno=N
 *   posix_memalign posix_memalign(&p, 64, SIZE_MAX/2): ret=N errno=N untouched=1|0 (p kept)
 *   info_options   malloc_info(1, f): ret=N errno=N written=N (bytes it wrote to f)
 *   mallinfo       mallinfo() and mallinfo2() with 10 MiB live (5 MiB of 1 KiB blocks,
 *                  five 1 MiB blocks): errno=N arena= uordblks= hblks= hblkhd= keepcost=
 *                  fordblks= uordblks2= (mallinfo2's), and zm_allocated= zm_mapped= when
 *                  zm_stats is found with dlsym (that is, under zonemalloc; -1 otherwise),
 *                  read right after mallinfo with no allocation between;
 *   freed          uordblks= and zm_allocated= again after everything was freed;
 *   info           malloc_info(0, f) with the 10 MiB live: ret=N errno=N; the XML it wrote
 *                  follows between the lines "<<<xml" and "xml>>>".
 * Exits 0.
 */
#include "common.h"
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include "zonemalloc.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define SMALL 5120
#define BIG 5

static void *small[SMALL], *big[BIG];
static void (*stats)(zm_stats_t *);

static long long zm_field(int allocated) {
  if (!stats) return -1;
  zm_stats_t s;
  stats(&s);
  return (long long)(allocated ? s.allocated : s.mapped);
}

static void failing_alignments(void) {
  errno = 1234;
  void *p = memalign(zt_opaque((size_t)1 << 63), zt_opaque((size_t)1 << 63));
  printf("memalign null=%d errno=%d\n", p == NULL, errno);
  void *out = &out;
  errno = 1234;
  int ret = posix_memalign(&out, 64, zt_opaque(SIZE_MAX / 2));
  printf("posix_memalign ret=%d errno=%d untouched=%d\n", ret, errno, out == &out);
}

static void info_with_options(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  errno = 1234;
  int ret = malloc_info(1, f);
  int err = errno;
  fclose(f);
  printf("info_options ret=%d errno=%d written=%zu\n", ret, err, len);
  free(text);
}

static void report_live(void) {
  errno = 1234;
  struct mallinfo mi = mallinfo();
  long long zm_allocated = zm_field(1), zm_mapped = zm_field(0);
  int err = errno;
  struct mallinfo2 m2 = mallinfo2();
  printf("mallinfo errno=%d arena=%d uordblks=%d hblks=%d hblkhd=%d keepcost=%d fordblks=%d uordblks2=%zu "
         "zm_allocated=%lld zm_mapped=%lld\n", err, mi.arena, mi.uordblks, mi.hblks, mi.hblkhd, mi.keepcost,
         mi.fordblks, m2.uordblks, zm_allocated, zm_mapped);
}

static void info_xml(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  errno = 1234;
  int ret = malloc_info(0, f);
  int err = errno;
  fclose(f);
  printf("info ret=%d errno=%d\n<<<xml\n%sxml>>>\n", ret, err, text);
  free(text);
}

int main(void) {
  stats = (void (*)(zm_stats_t *))dlsym(RTLD_DEFAULT, "zm_stats");
  failing_alignments();
  info_with_options();
  for (int i = 0; i < SMALL; i++) memset(small[i] = malloc(1024), 1, 1024);
  for (int i = 0; i < BIG; i++) memset(big[i] = malloc(1 << 20), 2, 1 << 20);
  report_live();
  info_xml();
  for (int i = 0; i < SMALL; i++) free(small[i]);
  for (int i = 0; i < BIG; i++) free(big[i]);
  struct mallinfo mi = mallinfo();
  long long zm_allocated = zm_field(1);
  printf("freed uordblks=%d zm_allocated=%lld\n", mi.uordblks, zm_allocated);
  return 0;
}
