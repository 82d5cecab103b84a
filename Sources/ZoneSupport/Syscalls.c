/*
 * Syscalls.c: the region table and the header map, the end of the executable, the libc calls Swift cannot
 * make directly (mremap, open, fcntl and prctl are variadic; mmap reports failure with
 * the macro MAP_FAILED; struct sigaction holds a union), the static copies of the
 * paths the configuration names, and the environment's address and where execve put it.
 */
#include "ZoneSupport.h"
#include <link.h>
#include <sys/auxv.h>

#include <sys/prctl.h>

uint8_t zms_regions[ZMS_REGION_COUNT];
struct zms_header_map zms_header_map;

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

uintptr_t zms_executable_end(void) {
  const ElfW(Phdr) *phdr = (const ElfW(Phdr) *)getauxval(AT_PHDR);
  size_t count = getauxval(AT_PHNUM);
  if (!phdr || count == 0) return 0;
  uintptr_t bias = 0, end = 0;
  for (size_t i = 0; i < count; i++)
    if (phdr[i].p_type == PT_PHDR) bias = (uintptr_t)phdr - phdr[i].p_vaddr;
  for (size_t i = 0; i < count; i++)
    if (phdr[i].p_type == PT_LOAD && phdr[i].p_vaddr + phdr[i].p_memsz + bias > end)
      end = phdr[i].p_vaddr + phdr[i].p_memsz + bias;
  return end;
}

/* Never blocks: a FIFO (or a device) named where a /proc, /sys or cgroup file was
 * expected opens at once, and its read ends the file. */
int zms_open_readonly(const char *path) { return open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); }

int zms_open_create(const char *path, int flags, int mode) { return open(path, flags | O_CLOEXEC, mode); }

int zms_dup_cloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 3); }

const char *zms_error_text(int error) {
  const char *text = strerrordesc_np(error);
  return text ? text : "unknown error";
}

const char *zms_keep_path(const char *path) {
  static char pool[2 * 4096];
  static size_t used;
  size_t length = strlen(path);
  if (length >= 4096 || length >= sizeof pool - used) return NULL;
  char *copy = pool + used;
  memcpy(copy, path, length + 1);
  used += length + 1;
  return copy;
}

char **zms_environment(void) { return environ; }

extern void *__libc_stack_end;

bool zms_in_exec_strings(const char *text, size_t n) {
  uintptr_t start = (uintptr_t)text, end = (uintptr_t)getauxval(AT_EXECFN);
  return start > (uintptr_t)__libc_stack_end && end != 0 && start < end && n <= end - start;
}

void zms_thread_name(char name[16]) {
  if (prctl(PR_GET_NAME, name) != 0) name[0] = 0;
  name[15] = 0;
}

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
