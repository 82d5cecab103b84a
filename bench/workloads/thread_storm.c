/*
 * thread_storm.c: thousands of short-lived threads, a few hundred alive at once.
 *
 * Models: thread-per-request servers and task runners that create a thread, do a
 * little work and let it exit. Each thread allocates small objects (16..512 bytes),
 * leaves half of them in a shared hand-off list for another thread to free, takes
 * one batch left there by an earlier thread and frees it, frees the rest of its own
 * objects, and exits. The allocator must set up and tear down per-thread state fast,
 * and must accept frees of memory whose allocating thread is gone.
 *
 * Usage: thread_storm [alive=300] [threads=10000] [--objects 600] [--nap-us 10000]
 *   alive    at most this many threads exist at once
 *   threads  threads created in total
 *   nap-us   each thread sleeps this long with its objects live (a request waiting
 *            for I/O), so that a few hundred threads really are alive together
 * Checks: each object carries its tag in its first and last bytes, checked before
 * free; objects allocated must equal objects freed; every batch handed off is freed.
 * Prints: ok name=thread-storm ... [zm_zones_created= zm_zone_teardowns=
 *         zm_threads_live= zm_orphan_slabs= zm_slabs_adopted=]
 */
#include "common.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

enum { MIN_SIZE = 16, MAX_SIZE = 512 };

/* A batch of objects left for another thread; the batch is itself a heap object. */
typedef struct batch {
  struct batch *next;
  long count;
  void *objs[];
} batch_t;

static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static batch_t *handoff;
static sem_t slots_free;
static atomic_ullong allocated, freed;
static long objects_per_thread, nap_us;
static atomic_long alive_now, alive_peak;

static size_t size_of_tag(uint64_t tag) {
  return MIN_SIZE + (size_t)(((tag * 0x9E3779B97F4A7C15ull) >> 40) % (MAX_SIZE - MIN_SIZE + 1));
}

static void *make_object(rng_t *rng) {
  uint64_t tag = rng_next(rng);
  size_t n = size_of_tag(tag);
  void *p = malloc(n);
  if (!p) die("thread_storm: malloc(%zu) returned NULL", n);
  ends_stamp(p, n, tag);
  return p;
}

static void drop_object(void *p) {
  uint64_t tag;
  memcpy(&tag, p, 8);
  if (!ends_check(p, size_of_tag(tag), tag)) die("thread_storm: object %p was overwritten", p);
  free(p);
}

static void free_batch(batch_t *b) {
  for (long i = 0; i < b->count; i++) drop_object(b->objs[i]);
  atomic_fetch_add(&freed, (unsigned long long)b->count + 1);
  free(b);
}

static batch_t *take_batch(void) {
  pthread_mutex_lock(&handoff_lock);
  batch_t *b = handoff;
  if (b) handoff = b->next;
  pthread_mutex_unlock(&handoff_lock);
  return b;
}

static void give_batch(batch_t *b) {
  pthread_mutex_lock(&handoff_lock);
  b->next = handoff;
  handoff = b;
  pthread_mutex_unlock(&handoff_lock);
}

static void note_alive(long delta) {
  long now = atomic_fetch_add(&alive_now, delta) + delta;
  long peak = atomic_load(&alive_peak);
  while (now > peak && !atomic_compare_exchange_weak(&alive_peak, &peak, now)) {}
}

static void *short_life(void *arg) {
  rng_t rng = rng_seed((uint64_t)(uintptr_t)arg);
  long n = objects_per_thread, half = n / 2;
  void **mine = malloc((size_t)n * sizeof(void *));
  batch_t *out = malloc(sizeof(batch_t) + (size_t)half * sizeof(void *));
  if (!mine || !out) die("thread_storm: malloc of the thread's tables returned NULL");
  for (long i = 0; i < n; i++) mine[i] = make_object(&rng);
  note_alive(1);
  struct timespec nap = { 0, nap_us * 1000 };
  nanosleep(&nap, NULL);  /* the request waits for I/O with its objects live */
  note_alive(-1);
  out->count = half;
  for (long i = 0; i < half; i++) out->objs[i] = mine[i];
  batch_t *in = take_batch();
  give_batch(out);
  if (in) free_batch(in);
  for (long i = half; i < n; i++) drop_object(mine[i]);
  free(mine);
  atomic_fetch_add(&allocated, (unsigned long long)n + 1);   /* objects + the batch */
  atomic_fetch_add(&freed, (unsigned long long)(n - half));
  sem_post(&slots_free);
  return NULL;
}

static void spawn_all(long total) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (long i = 0; i < total; i++) {
    sem_wait(&slots_free);
    pthread_t t;
    if (pthread_create(&t, &attr, short_life, (void *)(uintptr_t)(i + 1)) != 0)
      die("thread_storm: pthread_create failed at thread %ld", i);
  }
  pthread_attr_destroy(&attr);
}

static void print_zm_counters(void) {
  zm_stats_t st;
  if (!zm_snapshot(&st)) return;
  printf(" zm_zones_created=%llu zm_zone_teardowns=%llu zm_threads_live=%llu"
         " zm_orphan_slabs=%llu zm_slabs_adopted=%llu",
         (unsigned long long)st.zones_created, (unsigned long long)st.zone_teardowns,
         (unsigned long long)st.threads_live, (unsigned long long)st.orphan_slabs,
         (unsigned long long)st.slabs_adopted);
}

int main(int argc, char **argv) {
  long alive = arg_pos(argc, argv, 1, 300);
  long total = arg_pos(argc, argv, 2, 10000);
  objects_per_thread = arg_flag(argc, argv, "--objects", 600);
  nap_us = arg_flag(argc, argv, "--nap-us", 10000);
  if (alive < 1 || total < 1 || objects_per_thread < 2 || nap_us < 0 || nap_us > 999999) die("thread_storm: bad arguments");
  sem_init(&slots_free, 0, (unsigned)alive);

  uint64_t t0 = now_ns();
  spawn_all(total);
  for (long i = 0; i < alive; i++) sem_wait(&slots_free);  /* every thread has finished */
  double secs = secs_since(t0);

  batch_t *b;
  while ((b = take_batch()) != NULL) free_batch(b);
  unsigned long long a = atomic_load(&allocated), f = atomic_load(&freed);
  if (a != f) die("thread_storm: %llu objects allocated but %llu freed", a, f);
  printf("ok name=thread-storm alive=%ld threads=%ld objects=%llu peak_alive=%ld secs=%.3f threads_per_s=%.0f",
         alive, total, a, atomic_load(&alive_peak), secs, (double)total / secs);
  print_zm_counters();
  printf("\n");
  return 0;
}
