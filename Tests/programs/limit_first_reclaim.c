/*
 * limit_first_reclaim.c: the first memory-limit reclaim of a single-threaded program
 * (issue 11, case 4). Run with ZONEMALLOC_LIMIT=16M: it frees one block each of 20 KB,
 * 100 KB and 400 KB (so that empty spans sit in the thread's cache and the depot), then
 * allocates 1 KiB blocks until malloc returns NULL. Reclaim then runs with those caches
 * full; an allocator that starts a thread from inside reclaim (pthread_create allocates)
 * re-enters reclaim and waits for the lock its own thread holds, with every signal blocked.
 *
 * Usage: limit_first_reclaim [one] [big] [hold MS]. With "one" it frees only the 100 KB
 * block (which stays in the thread's own cache until reclaim flushes it). With "big" it
 * first frees a 1 MiB block, so that with ZONEMALLOC_BACKGROUND=1 the background thread
 * runs before the limit is reached. With "hold MS" it
 * sleeps MS milliseconds after the NULL before it frees (the test sends SIGTERM
 * meanwhile or at any other moment).
 * Prints "reclaim ok blocks=N errno_enomem=0|1 threads=N" and exits 0, where threads is
 * the process's thread count when malloc returned NULL.
 */
#include "common.h"
#include "procmem.h"
#include <unistd.h>

#define MAX_BLOCKS (1 << 16)
static void *blocks[MAX_BLOCKS];

int main(int argc, char **argv) {
  int one = 0;
  long hold = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "one") == 0) one = 1;
    else if (strcmp(argv[i], "big") == 0) free(malloc(1 << 20));
    else if (strcmp(argv[i], "hold") == 0 && i + 1 < argc) hold = atol(argv[++i]);
    else ZT_FAIL("usage: limit_first_reclaim [one] [big] [hold MS]");
  }
  if (!one) free(malloc(20000));
  free(malloc(100000));
  if (!one) free(malloc(400000));
  long n = 0;
  errno = 0;
  while (n < MAX_BLOCKS) {
    void *p = malloc(1024);
    if (!p) break;
    memset(p, 1, 1024);
    blocks[n++] = p;
  }
  int enomem = errno == ENOMEM;
  if (n == MAX_BLOCKS) ZT_FAIL("64 MiB allocated under a 16 MiB limit: is ZONEMALLOC_LIMIT set?");
  long threads = pm_status_kb("Threads:");
  if (hold > 0) usleep((useconds_t)hold * 1000);
  for (long i = 0; i < n; i++) free(blocks[i]);
  printf("reclaim ok blocks=%ld errno_enomem=%d threads=%ld\n", n, enomem, threads);
  return 0;
}
