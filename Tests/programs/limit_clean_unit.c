/*
 * limit_clean_unit.c: at the memory limit, a request that finds only units whose pages
 * were returned to the OS ("clean" units, charged nothing) must fail with ENOMEM and
 * leave the unit usable, not corrupt the depot. (Found by key_destructor_storm.c under
 * ZONEMALLOC_LIMIT=64M, which crashed in Depot.put.) Linked with -lzonemalloc.
 *
 * Steps: zm_set_limit(16 MiB); 40 medium blocks of 100 KB allocated and freed, then
 * zm_purge() (their spans become clean units); 1 MiB blocks allocated until malloc fails,
 * then 64 KB .. 4 KB blocks until those fail too, so less than a span's charge is left;
 * then malloc(100 KB), which can only be a clean span that cannot be charged: it must
 * return NULL with ENOMEM. After two 1 MiB blocks are freed, malloc(100 KB) must work.
 * Then everything is freed and zm_purge() called: nothing is allocated or cached any
 * more, so zm_stats' slab_cached must be 0 (a unit filed on a wrong list stays counted).
 * Prints "clean ok big=N refused_errno=N allocated_end=N slab_cached_end=N" and exits 0.
 */
#include "common.h"
#include "zonemalloc.h"

#define MEDIUM 100000
#define MAX 64

int main(void) {
  if (zm_set_limit(16 << 20) != 0) ZT_FAIL("zm_set_limit");
  void *medium[40], *big[MAX], *fill[256];
  for (int i = 0; i < 40; i++) memset(medium[i] = malloc(MEDIUM), 1, MEDIUM);
  for (int i = 0; i < 40; i++) free(medium[i]);
  zm_purge();
  int nbig = 0, nfill = 0;
  while (nbig < MAX && (big[nbig] = malloc(1 << 20)) != NULL) memset(big[nbig++], 2, 1 << 20);
  for (size_t n = 64 << 10; n >= 4096; n /= 2)
    while (nfill < 256 && (fill[nfill] = malloc(n)) != NULL) nfill++;
  errno = 0;
  void *refused = malloc(MEDIUM);
  int err = errno;
  if (refused) ZT_FAIL("malloc(%d) succeeded at the limit", MEDIUM);
  if (nbig < 2) ZT_FAIL("only %d big blocks fitted", nbig);
  free(big[--nbig]);
  free(big[--nbig]);
  void *again = malloc(MEDIUM);
  if (!again) ZT_FAIL("malloc(%d) failed after 2 MiB were freed: %s", MEDIUM, strerror(errno));
  memset(again, 3, MEDIUM);
  free(again);
  for (int i = 0; i < nbig; i++) free(big[i]);
  for (int i = 0; i < nfill; i++) free(fill[i]);
  zm_purge();
  zm_stats_t s;
  zm_stats(&s);
  printf("clean ok big=%d refused_errno=%d allocated_end=%llu slab_cached_end=%llu\n", nbig + 2, err,
         (unsigned long long)s.allocated, (unsigned long long)s.slab_cached);
  return 0;
}
