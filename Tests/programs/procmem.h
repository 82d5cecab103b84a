/*
 * procmem.h: memory readings for the C test programs linked with -lzonemalloc.
 *
 * - pm_statm_rss_kb: resident set size from /proc/self/statm (one read, cheap).
 * - pm_status_kb: a "Vm...:" field of /proc/self/status in KiB (VmRSS, VmHWM).
 * - pm_maps_contain: whether /proc/self/maps mentions a string (a loaded library).
 * - PM_STATS_DELTA: a zm_stats_t counter's change between two snapshots.
 * The readers use only open/read/close on stack buffers, so they allocate nothing and
 * do not disturb the allocator counters they are used next to.
 */
#ifndef ZT_PROCMEM_H
#define ZT_PROCMEM_H

#include "common.h"
#include <fcntl.h>
#include <unistd.h>

/* Reads a small /proc file into buf (NUL-terminated); returns the length or -1. */
static inline long pm_read(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, size - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    if (len == size - 1) break;
  }
  close(fd);
  buf[len] = 0;
  return (long)len;
}

static inline long pm_statm_rss_kb(void) {
  char buf[256];
  unsigned long size = 0, resident = 0;
  if (pm_read("/proc/self/statm", buf, sizeof buf) <= 0) ZT_FAIL("cannot read /proc/self/statm");
  if (sscanf(buf, "%lu %lu", &size, &resident) != 2) ZT_FAIL("cannot parse /proc/self/statm: %s", buf);
  return (long)(resident * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
}

/* field is for example "VmHWM:"; the value is in kB. */
static inline long pm_status_kb(const char *field) {
  char buf[8192];
  if (pm_read("/proc/self/status", buf, sizeof buf) <= 0) ZT_FAIL("cannot read /proc/self/status");
  char *at = strstr(buf, field);
  if (!at) ZT_FAIL("no %s in /proc/self/status", field);
  return strtol(at + strlen(field), NULL, 10);
}

/* Scans /proc/self/maps in pieces (it can be long), keeping an overlap across reads. */
static inline int pm_maps_contain(const char *needle) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) ZT_FAIL("cannot open /proc/self/maps");
  char buf[8192 + 1];
  size_t keep = 0, overlap = strlen(needle);
  int found = 0;
  for (;;) {
    ssize_t r = read(fd, buf + keep, sizeof buf - 1 - keep);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    size_t len = keep + (size_t)r;
    buf[len] = 0;
    if (memmem(buf, len, needle, overlap)) { found = 1; break; }
    keep = len < overlap ? len : overlap;
    memmove(buf, buf + len - keep, keep);
  }
  close(fd);
  return found;
}

#define PM_STATS_DELTA(after, before, field) ((unsigned long long)((after).field - (before).field))

#endif
