/*
 * setuid_probe.c: what a privileged process's allocator takes from its environment
 * (issue 29). The test installs it setuid root (linked against zonemalloc, or plain
 * under /etc/ld.so.preload) and runs it as another user with every ZONEMALLOC_*
 * variable set to a path or to its most dangerous value.
 *
 * It allocates a million small blocks (so that guarded sampling, one allocation in
 * 100,000 by default, guards some), frees them, allocates and frees 64 MiB (more than a
 * small ZONEMALLOC_LIMIT allows), looks whether its stats page exists, and prints "probe pid=P euid=E limit=L guarded=G big=ok|refused page=yes|no"
 * (zm_stats is found with dlsym, so a preloaded library serves as well as a linked one).
 */
#include "common.h"
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zonemalloc.h>

#define BLOCKS 1000000

static void *blocks[BLOCKS];

/* The inode of the stats page of this pid, 0 when there is none. */
static ino_t page_inode(void) {
  char path[64];
  struct stat info;
  snprintf(path, sizeof path, "/dev/shm/zonemalloc.%d", (int)getpid());
  return stat(path, &info) == 0 ? info.st_ino : 0;
}

int main(void) {
  void (*stats)(zm_stats_t *) = (void (*)(zm_stats_t *))dlsym(RTLD_DEFAULT, "zm_stats");
  if (!stats) ZT_FAIL("zonemalloc is not loaded");
  for (int i = 0; i < BLOCKS; i++) {
    blocks[i] = malloc(32);
    if (!blocks[i]) ZT_FAIL("malloc(32) #%d", i);
  }
  for (int i = 0; i < BLOCKS; i++) free(blocks[i]);
  void *big = malloc(64 << 20);
  if (big) memset(big, 1, 64 << 20);
  free(big);
  zm_stats_t s;
  stats(&s);
  ino_t page = page_inode();
  printf("probe pid=%d euid=%d limit=%llu guarded=%llu big=%s page=%s\n", (int)getpid(), (int)geteuid(),
         (unsigned long long)s.limit, (unsigned long long)s.guarded_allocs, big ? "ok" : "refused",
         page != 0 ? "yes" : "no");
  return 0;
}
