/*
 * Numa.c: the libnuma bridge.
 *
 * libnuma is loaded with dlopen, and only when placement can matter: when
 * ZONEMALLOC_NUMA=1 forces it, or when sysfs shows more than one node. A host program on
 * a one-node machine therefore never runs libnuma's constructor, which allocates memory
 * it never frees, and the library still loads on a machine without libnuma installed.
 * Everything here is called from slow paths or the library constructor only; libnuma's
 * functions only from the constructor (Numa.setUp), with no allocator lock held.
 */
#include "ZoneSupport.h"
#include <dlfcn.h>
#include <numa.h>
#include <numaif.h>
#include <sys/syscall.h>

static __typeof__(numa_available) *numa_available_fn;
static __typeof__(numa_max_node) *numa_max_node_fn;
static __typeof__(numa_node_of_cpu) *numa_node_of_cpu_fn;

int zms_numa_multiple_nodes(void) {
  return access("/sys/devices/system/node/node1", F_OK) == 0;
}

int zms_numa_load(void) {
  void *lib = dlopen("libnuma.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return -1;
  numa_available_fn = (__typeof__(numa_available) *)dlsym(lib, "numa_available");
  numa_max_node_fn = (__typeof__(numa_max_node) *)dlsym(lib, "numa_max_node");
  numa_node_of_cpu_fn = (__typeof__(numa_node_of_cpu) *)dlsym(lib, "numa_node_of_cpu");
  if (!numa_available_fn || !numa_max_node_fn || !numa_node_of_cpu_fn) return -1;
  return 0;
}

int zms_numa_node_count(void) {
  if (!numa_available_fn || numa_available_fn() < 0) return 0;
  return numa_max_node_fn() + 1;
}

int zms_numa_node_of_cpu(int cpu) {
  int node = numa_node_of_cpu_fn ? numa_node_of_cpu_fn(cpu) : 0;
  return node < 0 ? 0 : node;
}

/* The mbind system call itself, not libnuma's wrapper: it runs under the arena lock,
 * where nothing from another library may be called. */
int zms_numa_prefer(void *address, size_t length, int node) {
  unsigned long mask[ZMS_MAX_NODES / (8 * sizeof(unsigned long))] = {0};
  mask[node / (8 * sizeof(unsigned long))] = 1ul << (node % (8 * sizeof(unsigned long)));
  return (int)syscall(SYS_mbind, address, length, MPOL_PREFERRED, mask, ZMS_MAX_NODES + 1, 0);
}
