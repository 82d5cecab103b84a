/*
 * false_sharing.c: the cache-thrash and cache-scratch patterns (after Hoard's tests).
 *
 * Models: threads that each use a tiny private object intensively. If the allocator
 * places objects used by different threads in the same cache line, every write
 * bounces the line between cores and the program slows down many times.
 *   thrash   each thread repeatedly allocates a small object, writes it many times and
 *            frees it: active false sharing, caused by the allocator itself.
 *   scratch  the main thread allocates one small object per worker (likely adjacent)
 *            and hands them over; each worker frees the object it was handed, then
 *            repeatedly allocates, writes and frees small objects. An allocator that
 *            reuses the handed-over memory in the worker keeps the shared line:
 *            passive false sharing.
 *
 * Usage: false_sharing thrash|scratch [threads=2] [iterations=160000] [--writes 2000]
 *        [--size 8]
 * Checks: each object's bytes are counted up a known number of times by its owner
 * only, so a byte shared with another thread's object ends with the wrong value;
 * allocation and free counts must match.
 * Prints: ok name=cache-thrash|cache-scratch ... secs=S
 */
#include "common.h"

#include <pthread.h>

typedef struct {
  long id, iterations, writes, size;
  void *handed;  /* scratch mode: the object the main thread gave this worker */
  uint64_t allocs, frees;
} worker_t;

/* Counts each byte of the object up writes/size times and checks the result. */
static void hammer(worker_t *w, unsigned char *obj, long round) {
  volatile unsigned char *v = obj;
  unsigned char start = (unsigned char)(w->id * 31 + round);
  for (long i = 0; i < w->size; i++) v[i] = start;
  for (long i = 0; i < w->writes; i++) v[i % w->size]++;
  for (long i = 0; i < w->size; i++) {
    long bumps = w->writes / w->size + (i < w->writes % w->size ? 1 : 0);
    if (v[i] != (unsigned char)(start + bumps))
      die("false_sharing: byte %ld of object %p changed under thread %ld", i, (void *)obj, w->id);
  }
}

static void *worker(void *arg) {
  worker_t *w = arg;
  if (w->handed) {
    free(w->handed);
    w->frees++;
  }
  for (long r = 0; r < w->iterations; r++) {
    unsigned char *obj = malloc((size_t)w->size);
    if (!obj) die("false_sharing: malloc(%ld) returned NULL", w->size);
    w->allocs++;
    hammer(w, obj, r);
    free(obj);
    w->frees++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "thrash") != 0 && strcmp(argv[1], "scratch") != 0))
    die("usage: false_sharing thrash|scratch [threads] [iterations] [--writes N] [--size N]");
  int scratch = strcmp(argv[1], "scratch") == 0;
  long threads = arg_pos(argc, argv, 2, 2);
  long iterations = arg_pos(argc, argv, 3, 160000);
  long writes = arg_flag(argc, argv, "--writes", 2000);
  long size = arg_flag(argc, argv, "--size", 8);
  if (threads < 1 || iterations < 1 || writes < 1 || size < 1) die("false_sharing: bad arguments");

  worker_t *ws = calloc((size_t)threads, sizeof(worker_t));
  pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
  if (!ws || !tids) die("false_sharing: calloc failed");
  uint64_t allocs = 0, frees = 0;
  for (long i = 0; i < threads; i++) {
    ws[i] = (worker_t){ .id = i, .iterations = iterations, .writes = writes, .size = size };
    if (scratch) {
      ws[i].handed = malloc((size_t)size);
      if (!ws[i].handed) die("false_sharing: malloc returned NULL");
      memset(ws[i].handed, (int)i, (size_t)size);
      allocs++;
    }
  }
  uint64_t t0 = now_ns();
  for (long i = 0; i < threads; i++)
    if (pthread_create(&tids[i], NULL, worker, &ws[i]) != 0) die("false_sharing: pthread_create");
  for (long i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  double secs = secs_since(t0);
  for (long i = 0; i < threads; i++) {
    allocs += ws[i].allocs;
    frees += ws[i].frees;
  }
  if (allocs != frees) die("false_sharing: %llu allocations but %llu frees",
                           (unsigned long long)allocs, (unsigned long long)frees);
  printf("ok name=cache-%s threads=%ld iterations=%ld writes=%ld size=%ld allocs=%llu secs=%.3f\n",
         scratch ? "scratch" : "thrash", threads, iterations, writes, size,
         (unsigned long long)allocs, secs);
  free(ws);
  free(tids);
  return 0;
}
