/*
 * symbol_faults.c: a use-after-free in static functions, for the tests of the guarded
 * reports' names and lines (run with ZONEMALLOC_GUARD_RATE=1, which guards every block).
 *
 * Built with -g -O0 -fno-omit-frame-pointer and without -rdynamic: the functions below
 * are static, so only the file's static symbol table (.symtab) names them and its DWARF
 * line table places them; the dynamic symbol table knows none of them. The allocation,
 * the free and the faulting read each sit on a line of their own, marked by a comment
 * the test looks for ("the allocation", "the free", "the access").
 *
 * Usage: symbol_faults MODE, MODE one of
 *   uaf        allocate 64 bytes, free them, read byte 8
 *   truncated  first put in place of the program's file its first 4 KiB (the ELF and
 *              program headers unchanged, the section headers gone), then the same
 *   corrupt    first put in place of the program's file a copy whose section headers
 *              all claim an offset and size near 2^64, then the same
 * The replacements unlink the running file and write a new one at its path (argv[0]):
 * the report must read what is there without faulting, and name nothing from it.
 * Before the fault it prints "block=<p> size=64 fault=<address>" on stdout and flushes.
 * Reaching the end prints "survived" and exits 0, a failure for the test.
 */
#include "common.h"
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((noinline)) static char *symbol_allocate(void) {
  char *p = malloc(64); /* the allocation */
  if (!p) ZT_FAIL("malloc(64) failed");
  memset(p, 0x5a, 64);
  return p;
}

__attribute__((noinline)) static void symbol_release(char *p) {
  free(p); /* the free */
}

__attribute__((noinline)) static int symbol_touch(volatile char *p) {
  return p[8]; /* the access */
}

/* The program's file, read whole (it is small); size in *size. */
static unsigned char *read_self(const char *path, size_t *size) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) ZT_FAIL("cannot open %s", path);
  unsigned char *bytes = malloc((size_t)st.st_size);
  if (!bytes || read(fd, bytes, (size_t)st.st_size) != st.st_size) ZT_FAIL("cannot read %s", path);
  close(fd);
  *size = (size_t)st.st_size;
  return bytes;
}

/* Puts size bytes in place of the file at path (which stays running: it is unlinked). */
static void replace_self(const char *path, const unsigned char *bytes, size_t size) {
  if (unlink(path) != 0) ZT_FAIL("cannot unlink %s", path);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0700);
  if (fd < 0 || write(fd, bytes, size) != (ssize_t)size) ZT_FAIL("cannot write %s", path);
  close(fd);
}

static void corrupt_sections(unsigned char *bytes, size_t size) {
  Elf64_Ehdr *header = (Elf64_Ehdr *)bytes;
  if (header->e_shoff + (size_t)header->e_shnum * sizeof(Elf64_Shdr) > size) ZT_FAIL("odd section headers");
  Elf64_Shdr *sections = (Elf64_Shdr *)(bytes + header->e_shoff);
  for (int i = 0; i < header->e_shnum; i++) {
    sections[i].sh_offset = UINT64_MAX - 4095;
    sections[i].sh_size = UINT64_MAX / 2;
  }
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "truncated") == 0 || strcmp(mode, "corrupt") == 0) {
    size_t size;
    unsigned char *bytes = read_self(argv[0], &size);
    if (strcmp(mode, "corrupt") == 0) corrupt_sections(bytes, size);
    replace_self(argv[0], bytes, strcmp(mode, "truncated") == 0 && size > 4096 ? 4096 : size);
    free(bytes);
  } else if (strcmp(mode, "uaf") != 0) {
    ZT_FAIL("unknown mode %s", mode);
  }
  char *p = symbol_allocate();
  symbol_release(p);
  printf("block=%p size=64 fault=%p\n", (void *)p, (void *)(p + 8));
  fflush(stdout);
  int value = symbol_touch(p);
  printf("survived %d\n", value);
  return 0;
}
