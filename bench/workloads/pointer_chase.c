/*
 * pointer_chase.c: a linked list of small nodes spread over a big heap, walked in
 * random order (issue 24, huge pages).
 *
 * Models: programs that follow pointers through a big heap of small objects (graph
 * and tree traversals, garbage collectors' marking, linked caches): nearly every step
 * misses the cache and the TLB. With 4 KiB pages the TLB covers a few MiB, so most
 * steps also walk the page tables; with 2 MiB pages the table walk is shorter and
 * often cached. This is the workload where huge pages pay most.
 *
 * One thread mallocs `nodes` nodes of `node-size` bytes (64 by default), in order,
 * then links them in a random order (a shuffled table of pointers, mapped outside the
 * allocator and unmapped before the walks) and walks the list `walks` times. Then it
 * frees every node, in list order. The walk is timed on its own (walk_s): it is the
 * part huge pages speed up; the build (build_s) is mostly the allocator's malloc and
 * page faults.
 *
 * Usage: pointer_chase [threads=1, must be 1] [nodes=8000000] [--walks 3] [--node-size 64]
 * Checks: every node carries its index and a tag derived from it, checked on every
 * walk; each walk visits every node once (count and sum of indices); mallocs == frees.
 * Prints: ok name=pointer-chase nodes=N node_size=N walks=N frees=N build_s=S walk_s=S
 *         walk_cpu_s=S ns_per_step=X free_s=S rss_mib=X huge_mib=X huge_share=X
 *   walk_cpu_s   the walks' CPU time (on a shared machine, less disturbed than walk_s)
 *   ns_per_step  walk_cpu_s over nodes * walks
 *   rss_mib, huge_mib, huge_share  after the build, before the walks (smaps.h)
 */
#include "common.h"
#include "smaps.h"

#include <sys/mman.h>

typedef struct node {
  struct node *next;
  uint64_t index;
  uint64_t tag;
} node_t;

static inline uint64_t node_tag(uint64_t index) { return pat_word(0xC4A5E, (size_t)index); }

static node_t *build(long nodes, size_t node_size) {
  size_t table_bytes = (size_t)nodes * sizeof(node_t *);
  node_t **order = mmap(NULL, table_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (order == MAP_FAILED) die("pointer_chase: mmap of the order table failed");
  for (long i = 0; i < nodes; i++) {
    node_t *n = malloc(node_size);
    if (!n) die("pointer_chase: malloc(%zu) returned NULL", node_size);
    *n = (node_t){ .next = NULL, .index = (uint64_t)i, .tag = node_tag((uint64_t)i) };
    order[i] = n;
  }
  rng_t rng = rng_seed(24);
  for (long i = nodes - 1; i > 0; i--) {
    long j = (long)(rng_next(&rng) % (uint64_t)(i + 1));
    node_t *t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (long i = 0; i + 1 < nodes; i++) order[i]->next = order[i + 1];
  node_t *head = order[0];
  munmap(order, table_bytes);
  return head;
}

static void walk(const node_t *head, long nodes) {
  uint64_t count = 0, sum = 0;
  for (const node_t *n = head; n; n = n->next) {
    if (n->tag != node_tag(n->index)) die("pointer_chase: node %p was overwritten", (const void *)n);
    sum += n->index;
    count++;
  }
  uint64_t want = (uint64_t)nodes * (uint64_t)(nodes - 1) / 2;
  if (count != (uint64_t)nodes || sum != want)
    die("pointer_chase: a walk saw %llu nodes (sum %llu), expected %ld (sum %llu)", (unsigned long long)count,
        (unsigned long long)sum, nodes, (unsigned long long)want);
}

static long free_all(node_t *head) {
  long frees = 0;
  while (head) {
    node_t *next = head->next;
    free(head);
    head = next;
    frees++;
  }
  return frees;
}

int main(int argc, char **argv) {
  long threads = arg_pos(argc, argv, 1, 1);
  long nodes = arg_pos(argc, argv, 2, 8000000);
  long walks = arg_flag(argc, argv, "--walks", 3);
  long node_size = arg_flag(argc, argv, "--node-size", 64);
  if (threads != 1 || nodes < 2 || walks < 1 || node_size < (long)sizeof(node_t)) die("pointer_chase: bad arguments");

  uint64_t t0 = now_ns();
  node_t *head = build(nodes, (size_t)node_size);
  double build_s = secs_since(t0);
  pages_t pages = pages_now();
  t0 = now_ns();
  uint64_t cpu0 = cpu_now_ns();
  for (long w = 0; w < walks; w++) walk(head, nodes);
  double walk_s = secs_since(t0), walk_cpu_s = (double)(cpu_now_ns() - cpu0) / 1e9;
  t0 = now_ns();
  long frees = free_all(head);
  double free_s = secs_since(t0);
  if (frees != nodes) die("pointer_chase: %ld nodes, %ld frees", nodes, frees);

  printf("ok name=pointer-chase nodes=%ld node_size=%ld walks=%ld frees=%ld build_s=%.3f walk_s=%.3f"
         " walk_cpu_s=%.3f ns_per_step=%.1f free_s=%.3f",
         nodes, node_size, walks, frees, build_s, walk_s, walk_cpu_s,
         walk_cpu_s * 1e9 / ((double)nodes * (double)walks), free_s);
  print_pages("", pages);
  printf("\n");
  return 0;
}
