/*
 * numa_policy.c: the NUMA placement zonemalloc applies, read back from the kernel.
 *
 * For a small block (64 B) and a big block (8 MiB) allocated by the main thread, and a
 * small block allocated by a second thread, it touches the memory and reports:
 *   <kind>_policy  the mode of the mapping's policy, get_mempolicy(MPOL_F_ADDR) with the
 *                  mode flags stripped (0 MPOL_DEFAULT, 1 MPOL_PREFERRED, ...);
 *   <kind>_mask    the low word of its node mask (bit 0 = node 0);
 *   <kind>_page    the node the touched page is on, from move_pages (or -errno);
 *   <kind>_zm      zm_numa_node_of() of the block.
 * It also reports zm_stats' numa_enabled and numa_nodes, and libnuma=1 if /proc/self/maps
 * shows libnuma loaded. System calls go through syscall(2), so libnuma is not needed.
 *
 * Usage: numa_policy
 * Last line: "numa ok small_policy=N small_mask=N ... numa_enabled=N numa_nodes=N libnuma=N".
 */
#include "common.h"
#include "procmem.h"
#include "zonemalloc.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MPOL_F_ADDR (1 << 1)
#define MODE_FLAGS ((1 << 15) | (1 << 14) | (1 << 13)) /* STATIC_NODES, RELATIVE_NODES, NUMA_BALANCING */
#define MAX_NODES 1024

typedef struct { int policy, flags; unsigned long mask; int page, zm; } placement_t;

static placement_t inspect(unsigned char *p, size_t n) {
  placement_t r = {0};
  memset(p, 0x3c, n < 4096 ? n : 4096); /* touch: the page gets a node */
  int mode = -1;
  unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long))] = {0};
  if (syscall(SYS_get_mempolicy, &mode, mask, (unsigned long)MAX_NODES, p, (unsigned long)MPOL_F_ADDR) != 0)
    ZT_FAIL("get_mempolicy(%p) failed: %s", (void *)p, strerror(errno));
  r.policy = mode & ~MODE_FLAGS;
  r.flags = mode & MODE_FLAGS;
  r.mask = mask[0];
  void *page = (void *)((uintptr_t)p & ~(uintptr_t)4095);
  int status = -1000;
  if (syscall(SYS_move_pages, 0, 1UL, &page, NULL, &status, 0) != 0)
    ZT_FAIL("move_pages(%p) failed: %s", page, strerror(errno));
  r.page = status;
  r.zm = zm_numa_node_of(p);
  return r;
}

static placement_t thread_small;
static void *thread_body(void *arg) {
  (void)arg;
  unsigned char *p = malloc(64);
  if (!p) ZT_FAIL("malloc(64) failed in the thread");
  thread_small = inspect(p, 64);
  free(p);
  return NULL;
}

static void print(const char *kind, placement_t r) {
  printf("%s_policy=%d %s_flags=%d %s_mask=%lu %s_page=%d %s_zm=%d ", kind, r.policy, kind, r.flags, kind, r.mask,
         kind, r.page, kind, r.zm);
}

int main(void) {
  unsigned char *small = malloc(64), *big = malloc((size_t)8 << 20);
  if (!small || !big) ZT_FAIL("malloc failed");
  placement_t s = inspect(small, 64), b = inspect(big, (size_t)8 << 20);
  pthread_t t;
  if (pthread_create(&t, NULL, thread_body, NULL)) ZT_FAIL("pthread_create");
  pthread_join(t, NULL);
  int outside = zm_numa_node_of(&s); /* not zonemalloc's: -1 */
  free(small);
  free(big);
  zm_stats_t st;
  zm_stats(&st);
  printf("numa ok ");
  print("small", s);
  print("big", b);
  print("thread", thread_small);
  printf("outside_zm=%d numa_enabled=%llu numa_nodes=%llu libnuma=%d\n", outside, (unsigned long long)st.numa_enabled,
         (unsigned long long)st.numa_nodes, pm_maps_contain("libnuma"));
  return 0;
}
