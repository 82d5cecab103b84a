/*
 * ObjectFile.c: mapping a loaded object's file to read its sections, from a signal
 * handler (Symbols.c names frames with it).
 *
 * The file is opened by the path the loader used (non-blocking, so a FIFO put in its
 * place cannot hang the report), must be a regular file of at most MAX_FILE_SIZE bytes,
 * and is mapped whole, read-only; the descriptor is closed at once. It is taken only if
 * its ELF header is this machine's and its program headers are the very ones loaded, so
 * a file replaced since the program started is not read as if it were the program. Every
 * offset and size it holds (section headers, section extents, the section name table)
 * is checked against the file's size before use. Only open, fstat, mmap, munmap and
 * close are called: async-signal-safe (mmap in practice), no allocation, no lock. A file
 * shrunk by another process while mapped would raise SIGBUS: that is not guarded against.
 */
#include "ObjectFile.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define MAX_FILE_SIZE ((size_t)1 << 30)

#if defined(__x86_64__)
#define THIS_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define THIS_MACHINE EM_AARCH64
#else
#define THIS_MACHINE EM_NONE
#endif

/* start + count * unit lies within size bytes. */
static int fits(uint64_t start, uint64_t count, uint64_t unit, size_t size) {
  if (start > size || (unit && count > (size - start) / unit)) return 0;
  return 1;
}

static int header_is_ours(const struct zms_object_file *file, const ElfW(Phdr) *phdr, size_t phnum) {
  const ElfW(Ehdr) *e = (const ElfW(Ehdr) *)file->base;
  if (file->size < sizeof *e || memcmp(e->e_ident, ELFMAG, SELFMAG) != 0) return 0;
  if (e->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) || e->e_machine != THIS_MACHINE) return 0;
  if (e->e_phentsize != sizeof(ElfW(Phdr)) || e->e_phnum != phnum || !fits(e->e_phoff, phnum, sizeof *phdr, file->size))
    return 0;
  if (memcmp(file->base + e->e_phoff, phdr, phnum * sizeof *phdr) != 0) return 0;
  return e->e_shentsize == sizeof(ElfW(Shdr)) && e->e_shnum > 0 && e->e_shstrndx < e->e_shnum &&
         fits(e->e_shoff, e->e_shnum, sizeof(ElfW(Shdr)), file->size) && e->e_shoff % sizeof(uintptr_t) == 0;
}

int zms_object_open(const char *path, const ElfW(Phdr) *phdr, size_t phnum, struct zms_object_file *out) {
  memset(out, 0, sizeof *out);
  if (!path || !*path || !phdr) return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st;
  void *base = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= MAX_FILE_SIZE)
    base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (base == MAP_FAILED) return -1;
  out->base = base;
  out->size = (size_t)st.st_size;
  if (!header_is_ours(out, phdr, phnum)) {
    zms_object_close(out);
    return -1;
  }
  const ElfW(Ehdr) *e = (const ElfW(Ehdr) *)out->base;
  out->sections = (const ElfW(Shdr) *)(out->base + e->e_shoff);
  out->section_count = e->e_shnum;
  struct zms_bytes names;
  if (zms_object_section_at(out, e->e_shstrndx, &names)) {
    out->section_names = (const char *)names.start;
    out->section_names_size = names.size;
  }
  return 0;
}

void zms_object_close(struct zms_object_file *file) {
  if (file->base) munmap((void *)file->base, file->size);
  memset(file, 0, sizeof *file);
}

int zms_object_section_at(const struct zms_object_file *file, size_t index, struct zms_bytes *out) {
  if (index == 0 || index >= file->section_count) return 0;
  const ElfW(Shdr) *s = &file->sections[index];
  if (s->sh_type == SHT_NOBITS || (s->sh_flags & SHF_COMPRESSED) || !fits(s->sh_offset, s->sh_size, 1, file->size))
    return 0;
  out->start = file->base + s->sh_offset;
  out->size = s->sh_size;
  return 1;
}

/* The section's name equals name (within the name table's bounds). */
static int named(const struct zms_object_file *file, const ElfW(Shdr) *s, const char *name) {
  size_t length = strlen(name);
  return s->sh_name < file->section_names_size && file->section_names_size - s->sh_name > length &&
         memcmp(file->section_names + s->sh_name, name, length + 1) == 0;
}

int zms_object_section_named(const struct zms_object_file *file, const char *name, struct zms_bytes *out) {
  for (size_t i = 1; i < file->section_count; i++)
    if (named(file, &file->sections[i], name)) return zms_object_section_at(file, i, out);
  return 0;
}

size_t zms_object_section_of_type(const struct zms_object_file *file, uint32_t type) {
  for (size_t i = 1; i < file->section_count; i++)
    if (file->sections[i].sh_type == type) return i;
  return 0;
}
