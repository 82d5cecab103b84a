/*
 * Symbols.c: naming a code address inside the process, from a signal handler.
 *
 * The guarded slots' fault report runs in the SIGSEGV handler, where dladdr may not be
 * called: it takes the dynamic loader's lock, which the interrupted thread (or another,
 * stopped for good by the abort that follows) may hold. So the loaded objects are found
 * by walking the loader's public list (_r_debug.r_map, as debuggers do) without its
 * lock. An object being added or removed by dlopen/dlclose at that very moment may be
 * missed; nothing else is at risk, since an object stays mapped until dlclose has
 * unlinked it.
 * The object's file (the path the loader used; the program's from AT_EXECFN) is then
 * mapped (ObjectFile.c) for its static symbol table, which names static functions and
 * those of a program built without -rdynamic, and its DWARF line table (LineTable.c).
 * When the file has no .symtab (stripped), cannot be read, or the process is setuid
 * (AT_SECURE: it reads no file named by whoever started it), the object's dynamic
 * symbol table is read from its mapped image instead: no system call, bounded by the
 * symbol counts. No lock, no allocation; the symbols scanned are bounded too.
 */
#include "ZoneSupport.h"
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include "ObjectFile.h"

#define MAX_STATIC_SYMBOLS ((size_t)1 << 21)

extern char *program_invocation_name;

/* The bias and program headers of a loaded object, from its ELF header. */
struct image {
  uintptr_t bias;
  const ElfW(Phdr) *phdr;
  size_t phnum;
};

static int image_of(const struct link_map *map, int is_main, struct image *out) {
  if (is_main) {
    out->phdr = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    out->phnum = getauxval(AT_PHNUM);
    out->bias = 0;
    for (size_t i = 0; out->phdr && i < out->phnum; i++)
      if (out->phdr[i].p_type == PT_PHDR) out->bias = (uintptr_t)out->phdr - out->phdr[i].p_vaddr;
    return out->phdr != NULL;
  }
  /* A shared object's first segment starts at vaddr 0 and maps its ELF header. */
  const ElfW(Ehdr) *header = (const ElfW(Ehdr) *)map->l_addr;
  if (!header || memcmp(header->e_ident, ELFMAG, SELFMAG) != 0) return 0;
  out->bias = map->l_addr;
  out->phdr = (const ElfW(Phdr) *)(map->l_addr + header->e_phoff);
  out->phnum = header->e_phnum;
  return 1;
}

static int image_holds(const struct image *image, uintptr_t address) {
  for (size_t i = 0; i < image->phnum; i++) {
    const ElfW(Phdr) *h = &image->phdr[i];
    if (h->p_type == PT_LOAD && address - (image->bias + h->p_vaddr) < h->p_memsz) return 1;
  }
  return 0;
}

/* A dynamic entry's address: relocated in place by the loader for most objects, left
 * as a virtual address for read-only dynamic sections (the vDSO). */
static uintptr_t dynamic_address(uintptr_t value, uintptr_t bias) { return value >= bias ? value : value + bias; }

/* How many symbols DT_GNU_HASH describes: past the highest bucket's chain end. */
static size_t gnu_hash_symbols(const uint32_t *table) {
  uint32_t buckets = table[0], first = table[1], bloom_words = table[2];
  const uint32_t *bucket = table + 4 + bloom_words * (sizeof(ElfW(Addr)) / 4);
  const uint32_t *chain = bucket + buckets;
  uint32_t last = 0;
  for (uint32_t b = 0; b < buckets; b++)
    if (bucket[b] > last) last = bucket[b];
  if (last < first) return first;
  while (!(chain[last - first] & 1)) last++;
  return last + 1;
}

struct dynamic_symbols {
  const ElfW(Sym) *table;
  const char *names;
  size_t count, names_size;
};

static int dynamic_symbols_of(const struct image *image, struct dynamic_symbols *out) {
  memset(out, 0, sizeof *out);
  const ElfW(Dyn) *dynamic = NULL;
  for (size_t i = 0; i < image->phnum; i++)
    if (image->phdr[i].p_type == PT_DYNAMIC) dynamic = (const ElfW(Dyn) *)(image->bias + image->phdr[i].p_vaddr);
  if (!dynamic) return 0;
  for (const ElfW(Dyn) *d = dynamic; d->d_tag != DT_NULL; d++) {
    uintptr_t value = d->d_un.d_ptr;
    switch (d->d_tag) {
    case DT_SYMTAB: out->table = (const ElfW(Sym) *)dynamic_address(value, image->bias); break;
    case DT_STRTAB: out->names = (const char *)dynamic_address(value, image->bias); break;
    case DT_STRSZ: out->names_size = d->d_un.d_val; break;
    case DT_HASH: out->count = ((const uint32_t *)dynamic_address(value, image->bias))[1]; break;
    case DT_GNU_HASH:
      if (!out->count) out->count = gnu_hash_symbols((const uint32_t *)dynamic_address(value, image->bias));
      break;
    }
  }
  return out->table && out->names && out->count;
}

/* The defined function or object whose extent holds address, or NULL. */
static const ElfW(Sym) *symbol_holding(const struct dynamic_symbols *symbols, uintptr_t bias, uintptr_t address) {
  for (size_t i = 0; i < symbols->count; i++) {
    const ElfW(Sym) *s = &symbols->table[i];
    int type = ELF64_ST_TYPE(s->st_info);
    if (s->st_shndx == SHN_UNDEF || (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT)) continue;
    if (s->st_name < symbols->names_size && address - (bias + s->st_value) < s->st_size) return s;
  }
  return NULL;
}

/* Copies the NUL-terminated name at offset of a string table into out (cut to fit); 0
 * when the offset lies outside the table or the name runs past its end. */
static int copy_name(const char *names, size_t names_size, size_t offset, char *out) {
  if (offset >= names_size) return 0;
  const char *end = memchr(names + offset, 0, names_size - offset);
  if (!end) return 0;
  size_t n = (size_t)(end - (names + offset));
  if (n > ZMS_SYMBOL_NAME_SIZE - 1) n = ZMS_SYMBOL_NAME_SIZE - 1;
  memcpy(out, names + offset, n);
  out[n] = 0;
  return 1;
}

/* The function of the file's .symtab holding address (link-time): 1 with its name in
 * out->name and its start in *start; 0 when none does; -1 when there is no .symtab. */
static int static_function(const struct zms_object_file *file, uintptr_t address, struct zms_symbol *out,
                           uintptr_t *start) {
  size_t index = zms_object_section_of_type(file, SHT_SYMTAB);
  if (!index) return -1;
  const ElfW(Shdr) *header = &file->sections[index];
  struct zms_bytes table, names;
  if (header->sh_entsize != sizeof(ElfW(Sym)) || !zms_object_section_at(file, index, &table) ||
      (uintptr_t)table.start % sizeof(uintptr_t) || !zms_object_section_at(file, header->sh_link, &names))
    return 0;
  size_t count = table.size / sizeof(ElfW(Sym));
  if (count > MAX_STATIC_SYMBOLS) count = MAX_STATIC_SYMBOLS;
  const ElfW(Sym) *symbols = (const ElfW(Sym) *)table.start;
  for (size_t i = 0; i < count; i++) {
    const ElfW(Sym) *s = &symbols[i];
    int type = ELF64_ST_TYPE(s->st_info);
    if (s->st_shndx == SHN_UNDEF || (type != STT_FUNC && type != STT_GNU_IFUNC)) continue;
    if (address - s->st_value >= s->st_size) continue;
    if (!copy_name((const char *)names.start, names.size, s->st_name, out->name)) continue;
    *start = s->st_value;
    return 1;
  }
  return 0;
}

/* The path to open for an object: the loader's, or for the program the one it was
 * executed by (/proc/self/exe when that is gone or replaced: it names what runs, but
 * /proc may be missing). */
static const char *file_of(const struct link_map *map, int is_main) {
  return is_main ? (const char *)getauxval(AT_EXECFN) : map->l_name;
}

/* Names the address from the object's file: 1 when the file was read (out->name may
 * still be empty), 0 when it could not be. */
static int from_file(const struct link_map *map, int is_main, const struct image *image, uintptr_t address,
                     uintptr_t call, struct zms_symbol *out) {
  if (getauxval(AT_SECURE)) return 0;
  struct zms_object_file file;
  if (zms_object_open(file_of(map, is_main), image->phdr, image->phnum, &file) != 0 &&
      (!is_main || zms_object_open("/proc/self/exe", image->phdr, image->phnum, &file) != 0))
    return 0;
  uintptr_t start;
  int found = static_function(&file, call - image->bias, out, &start);
  if (found > 0) out->offset = address - (image->bias + start);
  out->stripped = found < 0;
  if (!zms_line_of(&file, call - image->bias, out->file, sizeof out->file, &out->line)) out->line = 0;
  zms_object_close(&file);
  return 1;
}

int zms_symbolize(uintptr_t address, int is_return_address, struct zms_symbol *out) {
  memset(out, 0, sizeof *out);
  /* After a call, the call is the instruction before the return address, which may be
   * past the end of a function that never returns. */
  uintptr_t call = is_return_address ? address - 1 : address;
  int is_main = 1;
  for (const struct link_map *map = _r_debug.r_map; map; map = map->l_next, is_main = 0) {
    struct image image;
    if (!image_of(map, is_main, &image) || !image_holds(&image, call)) continue;
    out->object = is_main ? program_invocation_name : map->l_name;
    out->offset = address - image.bias;
    if (from_file(map, is_main, &image, address, call, out) && out->name[0]) return 1;
    struct dynamic_symbols symbols;
    const ElfW(Sym) *s = dynamic_symbols_of(&image, &symbols) ? symbol_holding(&symbols, image.bias, call) : NULL;
    if (s && copy_name(symbols.names, symbols.names_size, s->st_name, out->name))
      out->offset = address - (image.bias + s->st_value);
    return 1;
  }
  return 0;
}
