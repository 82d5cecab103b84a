/*
 * Syscalls.c: the region table and the libc calls Swift cannot make directly
 * (mremap, open, fcntl and prctl are variadic; mmap reports failure with the macro
 * MAP_FAILED), and the static copy of the statistics file's path.
 */
#include "ZoneSupport.h"

#include <sys/prctl.h>

uint8_t zms_regions[ZMS_REGION_COUNT];

void *zms_mmap(void *hint, size_t length, int prot, int flags) {
  void *p = mmap(hint, length, prot, flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int zms_open_readonly(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }

int zms_open_append(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int zms_dup_cloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 3); }

const char *zms_keep_path(const char *path) {
  static char copy[4096];
  size_t length = strlen(path);
  if (length >= sizeof copy) return NULL;
  memcpy(copy, path, length + 1);
  return copy;
}

void zms_thread_name(char name[16]) {
  if (prctl(PR_GET_NAME, name) != 0) name[0] = 0;
  name[15] = 0;
}

void *zms_mremap(void *old_address, size_t old_length, size_t new_length) {
  void *p = mremap(old_address, old_length, new_length, MREMAP_MAYMOVE);
  return p == MAP_FAILED ? NULL : p;
}
