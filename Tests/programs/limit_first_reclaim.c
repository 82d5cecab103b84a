/*
 * limit_first_reclaim.c: the first memory-limit reclaim of a single-threaded program
 * (issue 11, case 4). Run with ZONEMALLOC_LIMIT=16M: it frees one block each of 20 KB,
 * 100 KB and 400 KB (so that empty spans sit in the thread's cache and the depot), then
 * allocates 1 KiB blocks until malloc returns NULL. Reclaim then runs with those caches
 * full; an allocator that starts a thread from inside reclaim (pthread_create allocates)
 * re-enters reclaim and waits for the lock its own thread holds, with every signal blocked.
 *
 * Usage: limit_first_reclaim [hold MS]. With "hold MS" it sleeps MS milliseconds after the
 * NULL before it frees (the test sends SIGTERM meanwhile or at any other moment).
 * Prints "reclaim ok blocks=N errno_enomem=0|1 threads=N" and exits 0, where threads is
 * the process's thread count when malloc returned NULL.
 */
#include "common.h"
#include "procmem.h"
#include <unistd.h>

#define MAX_BLOCKS (1 << 16)
static void *blocks[MAX_BLOCKS];

int main(int argc, char **argv) {
  long hold = argc > 2 && strcmp(argv[1], "hold") == 0 ? atol(argv[2]) : 0;
  free(malloc(20000));
  free(malloc(100000));
  free(malloc(400000));
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
