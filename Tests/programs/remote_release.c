/*
 * remote_release.c: small blocks freed by another thread go back to the OS while the
 * thread that allocated them sleeps (issue 14), and a reaped slab still catches a
 * double free.
 *
 * A producer thread allocates MIB MiB of small blocks (16 B .. 16 KiB, log-uniform,
 * every byte written) and hands them all to a consumer thread, which checks and frees
 * every one; then both block on a condition variable, as a server's threads do once a
 * burst is over. The main thread reads its RSS (procmem.h: no allocation) every 50 ms
 * for IDLE_MS after the last free.
 *
 * Usage: remote_release MODE [MIB=64] [IDLE_MS=3000]
 *   idle          only the above. Prints "remote ok baseline_kb= peak_kb= after_free_kb=
 *                 final_kb= released_ms= slabs_released_delta=" (released_ms: the first
 *                 sample within 8 MiB of the baseline, -1 if none).
 *   remote_twice  then the consumer frees one of the blocks again (printed first, "%p"):
 *                 a double free into a slab whose memory was returned. Must abort.
 *   owner_twice   then the producer frees one of them itself (its chunk goes on the
 *                 local list of a slab whose memory was returned), and allocates as
 *                 many blocks of the same size as it made of all sizes, keeping them:
 *                 before it reuses that slab it must abort, naming the block.
 * Linked with -lzonemalloc (for zm_stats).
 */
#include "common.h"
#include "procmem.h"
#include <pthread.h>
#include <sys/mman.h>
#include <zonemalloc.h>

enum { SAMPLE_MS = 50, MAX_SAMPLES = 2000 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int phase;  /* 0 start, 1 allocated, 2 freed, 3 owner's turn, 4 quit */
static void **blocks;
static size_t *sizes;
static long nblocks;
static const char *mode;

static void set_phase(int p) {
  pthread_mutex_lock(&lock);
  phase = p;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
}

static void wait_phase(int p) {
  pthread_mutex_lock(&lock);
  while (phase < p) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
}

static void *producer(void *arg) {
  size_t goal = (size_t)(long)arg << 20, total = 0;
  uint64_t rng = zt_seed_for(7);
  while (total < goal) {
    size_t n = (size_t)16 << (zt_rand(&rng) % 11);  /* 16 B .. 16 KiB */
    n += zt_rand(&rng) % n;
    if (n > 16384) n = 16384;
    void *p = malloc(n);
    if (!p) ZT_FAIL("malloc(%zu) failed", n);
    memset(p, (int)(nblocks & 0xff), n);
    blocks[nblocks] = p;
    sizes[nblocks++] = n;
    total += n;
  }
  set_phase(1);
  wait_phase(3);
  if (strcmp(mode, "owner_twice") == 0) {
    printf("%p\n", blocks[0]);
    fflush(stdout);
    free(blocks[0]);
    for (long i = 0; i < nblocks; i++)
      if (!malloc(sizes[0])) ZT_FAIL("malloc(%zu) failed", sizes[0]);
    fprintf(stderr, "owner's double free went unnoticed\n");
    exit(3);
  }
  wait_phase(4);
  return NULL;
}

static void *consumer(void *unused) {
  (void)unused;
  wait_phase(1);
  for (long i = 0; i < nblocks; i++) {
    unsigned char *p = blocks[i];
    if (p[0] != (unsigned char)(i & 0xff) || p[sizes[i] - 1] != (unsigned char)(i & 0xff))
      ZT_FAIL("block %ld was overwritten", i);
    free(p);
  }
  set_phase(2);
  wait_phase(3);
  if (strcmp(mode, "remote_twice") == 0) {
    printf("%p\n", blocks[nblocks / 2]);
    fflush(stdout);
    free(blocks[nblocks / 2]);
    fprintf(stderr, "remote double free went unnoticed\n");
    exit(3);
  }
  wait_phase(4);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) ZT_FAIL("usage: remote_release idle|remote_twice|owner_twice [MIB] [IDLE_MS]");
  mode = argv[1];
  long mib = argc > 2 ? atol(argv[2]) : 64, idle_ms = argc > 3 ? atol(argv[3]) : 3000;
  long max_blocks = (mib << 20) / 16 + 1;
  blocks = mmap(NULL, max_blocks * sizeof *blocks, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  sizes = mmap(NULL, max_blocks * sizeof *sizes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (blocks == MAP_FAILED || sizes == MAP_FAILED) ZT_FAIL("mmap");
  free(malloc(64));
  zm_stats_t before, after;
  zm_stats(&before);
  long baseline = pm_statm_rss_kb();
  pthread_t threads[2];
  if (pthread_create(&threads[0], NULL, producer, (void *)mib) || pthread_create(&threads[1], NULL, consumer, NULL))
    ZT_FAIL("pthread_create");
  wait_phase(1);
  long peak = pm_statm_rss_kb();
  wait_phase(2);
  long after_free = pm_statm_rss_kb(), released = -1, rss = after_free;
  for (long t = 0; t <= idle_ms && t / SAMPLE_MS < MAX_SAMPLES; t += SAMPLE_MS) {
    rss = pm_statm_rss_kb();
    if (released < 0 && rss <= baseline + 8192) released = t;
    usleep(SAMPLE_MS * 1000);
  }
  zm_stats(&after);
  if (strcmp(mode, "idle") != 0) {
    set_phase(3);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    fprintf(stderr, "no abort\n");
    return 3;
  }
  set_phase(4);
  for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
  printf("remote ok blocks=%ld baseline_kb=%ld peak_kb=%ld after_free_kb=%ld final_kb=%ld released_ms=%ld "
         "slabs_released_delta=%llu\n", nblocks, baseline, peak, after_free, rss, released,
         PM_STATS_DELTA(after, before, slabs_released));
  return 0;
}
