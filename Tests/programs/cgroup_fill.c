/*
 * cgroup_fill.c: allocates past a memory cgroup's limit.
 *
 * Usage: cgroup_fill MAX_MIB
 *
 * Allocates 1 MiB blocks and writes every page of each, until malloc returns NULL or
 * MAX_MIB are held. Then it frees them and prints
 *   "filled ok mib=N null=0|1 errno=E"
 * and exits 0. Under a cgroup limit with ZONEMALLOC_LIMIT=auto, malloc returns NULL
 * with ENOMEM before the group is full; under glibc the kernel's OOM killer ends it.
 */
#include "common.h"

#define MAX_BLOCKS 65536

static void *blocks[MAX_BLOCKS];

int main(int argc, char **argv) {
  long max = argc > 1 ? atol(argv[1]) : 1024;
  if (max < 1 || max > MAX_BLOCKS) ZT_FAIL("MAX_MIB must be 1..%d", MAX_BLOCKS);
  long n = 0;
  int error = 0;
  while (n < max) {
    char *p = malloc(1 << 20);
    if (!p) {
      error = errno;
      break;
    }
    for (size_t k = 0; k < (1 << 20); k += 4096) p[k] = (char)k;
    blocks[n++] = p;
  }
  for (long i = 0; i < n; i++) free(blocks[i]);
  printf("filled ok mib=%ld null=%d errno=%d\n", n, n < max, error);
  return 0;
}
