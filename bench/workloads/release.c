/*
 * release.c: does memory go back to the OS after a burst is freed, and how soon?
 *
 * Models: a program that builds a large heap of small and medium objects, frees it
 * all (a cache flush, the end of a batch job, redis's FLUSHALL, a Python process
 * dropping a big dict) and then idles. Two modes, the same shape otherwise:
 *   remote  a producer thread allocates MIB MiB of blocks and hands every one of them
 *           to a consumer thread, which frees them all (memory freed by another
 *           thread: redis frees a FLUSHALL on a background thread, Python's objects
 *           die wherever the last reference goes);
 *   own     the producer frees its blocks itself (own-thread frees, for comparison).
 * Both threads stay alive and idle afterwards, blocked on a condition variable: an
 * allocator that returns memory only when a thread exits or allocates again keeps it.
 *
 * Sizes: half of the bytes in small blocks (16 B..16 KiB) and half in medium ones
 * (16..512 KiB), log-uniform within each band, interleaved. The main thread reads its
 * RSS from /proc/self/statm (without stdio, so sampling never allocates): the
 * baseline once both threads exist and have each allocated and freed one small block,
 * every 10 ms while the blocks are made and freed (the peak), and every 50 ms for
 * `idle-ms` after the last free.
 *
 * Usage: release remote|own [threads=2, must be 2] [mib=256] [--idle-ms 3000]
 * Checks: blocks under 4 KiB carry their tag in their first and last bytes, bigger
 * ones page stamps (so every page is resident), all checked by the thread that frees
 * them; blocks allocated == freed.
 * Prints: ok name=remote-release|idle-release mode=remote|own mib=N frees=N free_ms=X
 *         baseline_mib=X peak_mib=X rss_500ms_mib=X rss_1s_mib=X rss_2s_mib=X
 *         rss_3s_mib=X release_ms=N release90_ms=N [zm_mapped_mib= zm_remote_frees=
 *         zm_slabs_released= zm_munmap_calls=]
 *   rss_Ns_mib    RSS N s after the last free (only the points within idle-ms)
 *   release_ms    time from the last free until RSS was within 2x of the baseline,
 *                 at 50 ms resolution; -1 when it never was within idle-ms
 *   release90_ms  the same until 90 % of the peak's excess over the baseline was gone
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

enum { SMALL_MIN = 16, SMALL_MAX = 16 << 10, MEDIUM_MAX = 512 << 10, SAMPLE_MS = 50, BUSY_SAMPLE_MS = 10,
       MAX_IDLE_MS = 60000 };

typedef enum { START, GO, ALLOCATED, FREED, QUIT } phase_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static phase_t phase = START;
static int remote, ready;
static size_t goal_bytes;
static slot_t *table;         /* mapped with mmap: the allocator under test never holds it */
static size_t table_bytes;
static long nblocks, nfreed;
static uint64_t free_start_ns, free_end_ns;
static atomic_long peak_kib;
static long rss_at[MAX_IDLE_MS / SAMPLE_MS + 1];  /* KiB at each idle sample (static: no malloc) */

/* Resident KiB from /proc/self/statm, read without stdio so that sampling never
 * calls the allocator. */
static long rss_kib(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) die("release: cannot open /proc/self/statm");
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) die("release: cannot read /proc/self/statm");
  buf[n] = 0;
  char *end;
  strtol(buf, &end, 10);               /* total program size */
  long resident = strtol(end, NULL, 10);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void note_peak(long kib) {
  long p = atomic_load(&peak_kib);
  while (kib > p && !atomic_compare_exchange_weak(&peak_kib, &p, kib)) {}
}

static void set_phase(phase_t p) {
  pthread_mutex_lock(&lock);
  phase = p;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
}

/* Each thread allocates and frees one small block before the baseline is taken, so
 * the allocator's per-thread set-up is part of the baseline, as in any program that
 * has run a while; then it waits for main's go. */
static void warm_up_and_wait(void) {
  void *p = malloc(64);
  if (!p) die("release: malloc(64) returned NULL");
  memset(p, 1, 64);
  free(p);
  pthread_mutex_lock(&lock);
  ready++;
  pthread_cond_broadcast(&changed);
  while (phase < GO) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
}

static void wait_phase(phase_t p) {
  pthread_mutex_lock(&lock);
  while (phase < p) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
}

/* ---- the blocks --------------------------------------------------------------------- */

static void allocate_all(void) {
  rng_t rng = rng_seed(2024);
  size_t small = 0, medium = 0;
  table_bytes = (goal_bytes / SMALL_MIN + 1) * sizeof(slot_t);
  table = mmap(NULL, table_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (table == MAP_FAILED) die("release: mmap of the block table failed");
  while (small + medium < goal_bytes) {
    slot_t *s = &table[nblocks++];
    int is_small = small <= medium;
    s->size = is_small ? rng_log_range(&rng, SMALL_MIN, SMALL_MAX) : rng_log_range(&rng, SMALL_MAX + 1, MEDIUM_MAX);
    s->tag = rng_next(&rng);
    s->ptr = malloc(s->size);
    if (!s->ptr) die("release: malloc(%zu) returned NULL", s->size);
    slot_stamp(s);
    if (is_small) small += s->size;
    else medium += s->size;
  }
  note_peak(rss_kib());
}

static void free_all(void) {
  free_start_ns = now_ns();
  for (long i = 0; i < nblocks; i++) {
    slot_t *s = &table[i];
    if (!slot_intact(s)) die("release: block %p of %zu bytes was overwritten", s->ptr, s->size);
    free(s->ptr);
    nfreed++;
  }
  munmap(table, table_bytes);
  free_end_ns = now_ns();
}

/* The producer allocates; in own mode it also frees. Then it idles until QUIT. */
static void *producer(void *arg) {
  (void)arg;
  warm_up_and_wait();
  allocate_all();
  if (!remote) free_all();
  set_phase(remote ? ALLOCATED : FREED);
  wait_phase(QUIT);
  return NULL;
}

/* The consumer frees everything in remote mode. Then it idles until QUIT. */
static void *consumer(void *arg) {
  (void)arg;
  warm_up_and_wait();
  if (remote) {
    wait_phase(ALLOCATED);
    free_all();
    set_phase(FREED);
  }
  wait_phase(QUIT);
  return NULL;
}

/* ---- sampling ---------------------------------------------------------------------- */

static int phase_now(void) {
  pthread_mutex_lock(&lock);
  phase_t p = phase;
  pthread_mutex_unlock(&lock);
  return p;
}

/* The time of the first idle sample at or below limit_kib, or -1. */
static long first_below(long idle_ms, long limit_kib) {
  for (long k = 0; k * SAMPLE_MS <= idle_ms; k++)
    if (rss_at[k] <= limit_kib) return k * SAMPLE_MS;
  return -1;
}

/* Samples RSS every 50 ms from the last free for idle_ms into rss_at. */
static void sample_idle(long idle_ms) {
  for (long k = 0; k * SAMPLE_MS <= idle_ms; k++) {
    sleep_until(free_end_ns + (uint64_t)k * SAMPLE_MS * 1000000ull);
    rss_at[k] = rss_kib();
    note_peak(rss_at[k]);
  }
}

static void print_zm_counters(void) {
  zm_stats_t st;
  if (!zm_snapshot(&st)) return;
  printf(" zm_mapped_mib=%.1f zm_remote_frees=%llu zm_slabs_released=%llu zm_munmap_calls=%llu",
         (double)st.mapped / 1048576.0, (unsigned long long)st.remote_frees,
         (unsigned long long)st.slabs_released, (unsigned long long)st.munmap_calls);
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "remote") != 0 && strcmp(argv[1], "own") != 0))
    die("release: usage: release remote|own [threads=2] [mib=256] [--idle-ms 3000]");
  remote = strcmp(argv[1], "remote") == 0;
  long threads = arg_pos(argc, argv, 2, 2);
  long mib = arg_pos(argc, argv, 3, 256);
  long idle_ms = arg_flag(argc, argv, "--idle-ms", 3000);
  if (threads != 2 || mib < 1 || idle_ms < 0 || idle_ms > MAX_IDLE_MS) die("release: bad arguments");
  goal_bytes = (size_t)mib << 20;

  pthread_t prod, cons;
  if (pthread_create(&prod, NULL, producer, NULL) != 0 || pthread_create(&cons, NULL, consumer, NULL) != 0)
    die("release: pthread_create");
  pthread_mutex_lock(&lock);
  while (ready < 2) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  long baseline_kib = rss_kib();
  set_phase(GO);
  while (phase_now() < FREED) {
    note_peak(rss_kib());
    sleep_until(now_ns() + BUSY_SAMPLE_MS * 1000000ull);
  }
  sample_idle(idle_ms);
  set_phase(QUIT);
  pthread_join(prod, NULL);
  pthread_join(cons, NULL);

  if (nfreed != nblocks || nblocks == 0) die("release: %ld blocks allocated, %ld freed", nblocks, nfreed);
  printf("ok name=%s mode=%s mib=%ld frees=%ld free_ms=%.1f baseline_mib=%.1f peak_mib=%.1f",
         remote ? "remote-release" : "idle-release", argv[1], mib, nfreed,
         (double)(free_end_ns - free_start_ns) / 1e6, baseline_kib / 1024.0, atomic_load(&peak_kib) / 1024.0);
  static const struct { long ms; const char *key; } marks[] = {
    { 500, "rss_500ms_mib" }, { 1000, "rss_1s_mib" }, { 2000, "rss_2s_mib" }, { 3000, "rss_3s_mib" } };
  for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
    if (marks[i].ms <= idle_ms) printf(" %s=%.1f", marks[i].key, rss_at[marks[i].ms / SAMPLE_MS] / 1024.0);
  long peak = atomic_load(&peak_kib);
  printf(" release_ms=%ld release90_ms=%ld", first_below(idle_ms, 2 * baseline_kib),
         first_below(idle_ms, baseline_kib + (peak - baseline_kib) / 10));
  print_zm_counters();
  printf("\n");
  return 0;
}
