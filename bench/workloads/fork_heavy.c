/*
 * fork_heavy.c: a parent with a large heap of small objects forks many children.
 *
 * Models: pre-forking servers and shells of big interpreters (a Python or Ruby process
 * with hundreds of MiB of objects that forks workers). Each child checks some of the
 * parent's objects, frees some of them, allocates a little of its own and exits;
 * the parent waits for it. Costs measured: fork itself (page tables of the heap),
 * the copy-on-write faults caused by the child's frees (an allocator that writes
 * metadata next to every object, or walks many pages on free, copies more pages),
 * and exit.
 *
 * Usage: fork_heavy [parallel=1] [children=30] [--heap-mib 300] [--frees 5000]
 *   parallel  children alive at once
 * Checks: every child checks 1000 random parent objects and its own objects, and
 * exits 0 only if all were intact; the parent checks every object of its heap after
 * the children are gone, and that every child exited 0.
 * Prints: ok name=fork-heavy ... fork_p50_us= fork_max_us= child_minflt_total=
 *         child_minflt_per_child= secs=S
 */
#include "common.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MIN_SIZE = 16, MAX_SIZE = 256, CHILD_CHECKS = 1000, CHILD_OWN = 4000 };

static void **heap;
static long nobjects;

static uint64_t tag_of(long i) { return (uint64_t)i * 0xA24BAED4963EE407ull + 0x9FB21C651E98DF25ull; }

static size_t size_of_tag(uint64_t tag) {
  return MIN_SIZE + (size_t)(((tag * 0x9E3779B97F4A7C15ull) >> 40) % (MAX_SIZE - MIN_SIZE + 1));
}

static void build_heap(size_t bytes) {
  long cap = (long)(bytes / MIN_SIZE);
  heap = malloc((size_t)cap * sizeof(void *));
  if (!heap) die("fork_heavy: malloc of the object table returned NULL");
  for (size_t have = 0; have < bytes && nobjects < cap; nobjects++) {
    uint64_t tag = tag_of(nobjects);
    size_t n = size_of_tag(tag);
    heap[nobjects] = malloc(n);
    if (!heap[nobjects]) die("fork_heavy: malloc(%zu) returned NULL", n);
    ends_stamp(heap[nobjects], n, tag);
    have += n;
  }
}

static int parent_object_ok(long i) {
  uint64_t tag = tag_of(i);
  return ends_check(heap[i], size_of_tag(tag), tag);
}

/* The child's whole life; returns its exit status. */
static int child_life(long id, long frees) {
  rng_t rng = rng_seed(5000 + (uint64_t)id);
  for (int k = 0; k < CHILD_CHECKS; k++) {
    long i = (long)(rng_next(&rng) % (uint64_t)nobjects);
    if (heap[i] && !parent_object_ok(i)) return 2;
  }
  for (long k = 0; k < frees; k++) {
    long i = (long)(rng_next(&rng) % (uint64_t)nobjects);
    if (!heap[i]) continue;
    if (!parent_object_ok(i)) return 3;
    free(heap[i]);
    heap[i] = NULL;
  }
  void **own = malloc(CHILD_OWN * sizeof(void *));
  if (!own) return 4;
  for (int k = 0; k < CHILD_OWN; k++) {
    own[k] = malloc(64 + (size_t)k % 192);
    if (!own[k]) return 4;
    ends_stamp(own[k], 64 + (size_t)k % 192, (uint64_t)k);
  }
  for (int k = 0; k < CHILD_OWN; k += 2) {
    if (!ends_check(own[k], 64 + (size_t)k % 192, (uint64_t)k)) return 5;
    free(own[k]);
  }
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void reap_one(void) {
  int status;
  pid_t pid = wait(&status);
  if (pid < 0) die("fork_heavy: wait failed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("fork_heavy: child %d ended with status 0x%x (its checks failed)", (int)pid, status);
}

static void run_children(long children, long parallel, long frees, uint64_t *fork_ns) {
  long running = 0;
  for (long c = 0; c < children; c++) {
    if (running == parallel) { reap_one(); running--; }
    fflush(stdout);
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) exit(child_life(c, frees));
    fork_ns[c] = now_ns() - t0;
    if (pid < 0) die("fork_heavy: fork failed: %s", strerror(errno));
    running++;
  }
  while (running-- > 0) reap_one();
}

int main(int argc, char **argv) {
  long parallel = arg_pos(argc, argv, 1, 1);
  long children = arg_pos(argc, argv, 2, 30);
  long heap_mib = arg_flag(argc, argv, "--heap-mib", 300);
  long frees = arg_flag(argc, argv, "--frees", 5000);
  if (parallel < 1 || children < 1 || heap_mib < 1 || frees < 0) die("fork_heavy: bad arguments");

  uint64_t t0 = now_ns();
  build_heap((size_t)heap_mib << 20);
  double build_secs = secs_since(t0);
  uint64_t *fork_ns = calloc((size_t)children, sizeof(uint64_t));
  if (!fork_ns) die("fork_heavy: calloc failed");
  uint64_t t1 = now_ns();
  run_children(children, parallel, frees, fork_ns);
  double fork_secs = secs_since(t1);

  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  for (long i = 0; i < nobjects; i++) {
    if (!parent_object_ok(i)) die("fork_heavy: parent object %ld changed after the children ran", i);
    free(heap[i]);
  }
  free(heap);
  qsort(fork_ns, (size_t)children, sizeof(uint64_t), cmp_u64);
  printf("ok name=fork-heavy parallel=%ld children=%ld heap_mib=%ld objects=%ld build_secs=%.3f"
         " fork_phase_secs=%.3f fork_p50_us=%.0f fork_max_us=%.0f child_minflt_total=%ld"
         " child_minflt_per_child=%.0f secs=%.3f\n",
         parallel, children, heap_mib, nobjects, build_secs, fork_secs,
         (double)fork_ns[children / 2] / 1e3, (double)fork_ns[children - 1] / 1e3,
         ru.ru_minflt, (double)ru.ru_minflt / (double)children, secs_since(t0));
  free(fork_ns);
  return 0;
}
