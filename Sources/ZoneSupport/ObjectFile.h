/*
 * ObjectFile.h: a loaded object's file, mapped read-only to read what the loader does
 * not map (the static symbol table, the DWARF line table). Private to ZoneSupport.
 */
#ifndef ZONE_SUPPORT_OBJECT_FILE_H
#define ZONE_SUPPORT_OBJECT_FILE_H

#include "ZoneSupport.h"
#include <link.h>

/* A mapped object file whose ELF and section headers have been checked against its size. */
struct zms_object_file {
  const uint8_t *base;
  size_t size;
  const ElfW(Shdr) *sections;
  size_t section_count;
  const char *section_names;
  size_t section_names_size;
};

/* A section's bytes, inside the mapping. */
struct zms_bytes {
  const uint8_t *start;
  size_t size;
};

/* Maps the file at path when it is a regular ELF file of this machine whose program
 * headers are the loaded object's (phdr, phnum): 0, or -1 with nothing mapped. */
int zms_object_open(const char *path, const ElfW(Phdr) *phdr, size_t phnum, struct zms_object_file *out);
void zms_object_close(struct zms_object_file *file);
/* The section at index, or of that name: 1 with its bytes, 0 when there is none, when it
 * has no bytes in the file (SHT_NOBITS), is compressed, or lies outside the file. */
int zms_object_section_at(const struct zms_object_file *file, size_t index, struct zms_bytes *out);
int zms_object_section_named(const struct zms_object_file *file, const char *name, struct zms_bytes *out);
/* The first section of type (SHT_*): its index, or 0 when there is none. */
size_t zms_object_section_of_type(const struct zms_object_file *file, uint32_t type);

/* The source file and line of address (a link-time address of the object) from the
 * file's .debug_line (LineTable.c): 1 with the path, cut to fit size, in path. */
int zms_line_of(const struct zms_object_file *file, uintptr_t address, char *path, size_t size, unsigned *line);

#endif
