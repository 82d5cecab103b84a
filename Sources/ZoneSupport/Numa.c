/*
 * Numa.c: the libnuma bridge. Called only from slow paths and from the library
 * constructor (libnuma itself allocates while it initialises, so the allocator never
 * calls into it before the constructor has run).
 */
#include "ZoneSupport.h"
#include <numa.h>
#include <numaif.h>

int zms_numa_node_count(void) {
  if (numa_available() < 0) return 0;
  return numa_max_node() + 1;
}

int zms_numa_node_of_cpu(int cpu) {
  int node = numa_node_of_cpu(cpu);
  return node < 0 ? 0 : node;
}

int zms_numa_prefer(void *address, size_t length, int node) {
  unsigned long mask[ZMS_MAX_NODES / (8 * sizeof(unsigned long))] = {0};
  mask[node / (8 * sizeof(unsigned long))] = 1ul << (node % (8 * sizeof(unsigned long)));
  return (int)mbind(address, length, MPOL_PREFERRED, mask, ZMS_MAX_NODES, 0);
}
