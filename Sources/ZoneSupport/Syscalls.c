/*
 * Syscalls.c: the region table and the libc calls Swift cannot make directly
 * (mremap is variadic; mmap reports failure with the macro MAP_FAILED).
 */
#include "ZoneSupport.h"

uint8_t zms_regions[ZMS_REGION_COUNT];

void *zms_mmap(void *hint, size_t length, int prot, int flags) {
  void *p = mmap(hint, length, prot, flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void *zms_reserve_at(void *address, size_t length) {
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
  return zms_mmap(address, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE);
}

int zms_open_readonly(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }

void *zms_mremap(void *old_address, size_t old_length, size_t new_length) {
  void *p = mremap(old_address, old_length, new_length, MREMAP_MAYMOVE);
  return p == MAP_FAILED ? NULL : p;
}
