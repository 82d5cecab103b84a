/*
 * Syscalls.c: the region table and the libc calls Swift cannot make directly
 * (mremap and open are variadic; mmap reports failure with the macro MAP_FAILED;
 * struct sigaction holds a union).
 */
#include "ZoneSupport.h"

uint8_t zms_regions[ZMS_REGION_COUNT];

void *zms_mmap(void *hint, size_t length, int prot, int flags) {
  void *p = mmap(hint, length, prot, flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int zms_open_readonly(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }

int zms_open_create(const char *path, int flags, int mode) { return open(path, flags | O_CLOEXEC, mode); }

int zms_catch_signal(int signal, void (*handler)(int)) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  action.sa_flags = SA_RESTART;
  sigfillset(&action.sa_mask);
  return sigaction(signal, &action, NULL);
}

void *zms_mremap(void *old_address, size_t old_length, size_t new_length) {
  void *p = mremap(old_address, old_length, new_length, MREMAP_MAYMOVE);
  return p == MAP_FAILED ? NULL : p;
}
