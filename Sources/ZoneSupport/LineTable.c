/*
 * LineTable.c: the source file and line of an address, from an object file's DWARF line
 * table (.debug_line, versions 2 to 5, as gcc and clang emit them), for Symbols.c.
 *
 * Each unit's line program is run until a row at or past the address is emitted; the row
 * before it in the same sequence, when its address is at or below, holds the answer (as
 * addr2line reads it). The file is then looked up in that unit's header: DWARF 5's
 * entry formats (names as inline strings or offsets into .debug_line_str or .debug_str;
 * directory indexes as constants) or the older NUL-terminated tables. A name that is not
 * absolute is put after its directory. Everything is read through a cursor that stops
 * at its end: a truncated or hostile table gives no answer, never a read outside it. The
 * work is bounded by the section's size (each step consumes at least one byte).
 * Compressed sections, split DWARF and string-offset forms (DW_FORM_strx) are not read.
 * No allocation, no system call.
 */
#include "ObjectFile.h"

/* A bounded reader: once past its end it is marked bad and reads zeros. */
struct cursor {
  const uint8_t *p, *end;
  int bad;
};

static uint64_t fixed(struct cursor *c, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n || n > 8) {
    c->bad = 1;
    return 0;
  }
  uint64_t value = 0;
  for (size_t i = 0; i < n; i++) value |= (uint64_t)c->p[i] << (8 * i); /* little-endian */
  c->p += n;
  return value;
}

static uint64_t uleb(struct cursor *c) {
  uint64_t value = 0;
  for (int shift = 0;; shift += 7) {
    uint64_t byte = fixed(c, 1);
    if (c->bad) return 0;
    if (shift < 64) value |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) return value;
  }
}

static int64_t sleb(struct cursor *c) {
  uint64_t value = 0;
  int shift = 0;
  uint64_t byte;
  do {
    byte = fixed(c, 1);
    if (c->bad) return 0;
    if (shift < 64) value |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  if (shift < 64 && (byte & 0x40)) value |= ~(uint64_t)0 << shift;
  return (int64_t)value;
}

static void skip(struct cursor *c, uint64_t n) {
  if (c->bad || (uint64_t)(c->end - c->p) < n) c->bad = 1;
  else c->p += n;
}

/* A NUL-terminated string at the cursor, or NULL. */
static const char *inline_string(struct cursor *c) {
  const uint8_t *nul = c->bad ? NULL : memchr(c->p, 0, (size_t)(c->end - c->p));
  if (!nul) {
    c->bad = 1;
    return NULL;
  }
  const char *s = (const char *)c->p;
  c->p = nul + 1;
  return s;
}

/* The NUL-terminated string at offset in a string section, or NULL. */
static const char *string_at(struct zms_bytes table, uint64_t offset) {
  if (!table.start || offset >= table.size) return NULL;
  return memchr(table.start + offset, 0, table.size - offset) ? (const char *)table.start + offset : NULL;
}

struct strings {
  struct zms_bytes line_str, str;
};

/* One unit's header, as far as the lookup needs it. */
struct unit {
  int version, offset_size;
  uint8_t min_length, line_range, opcode_base;
  int8_t line_base;
  const uint8_t *opcode_lengths;
  struct cursor tables, program; /* directory and file tables; the line program */
};

/* The next unit of the section: 1 when it can be read, 0 when it is to be stepped over,
 * -1 when the section ends (or its length is wrong). */
static int read_unit(struct cursor *section, struct unit *u) {
  uint64_t length = fixed(section, 4);
  u->offset_size = 4;
  if (length == 0xffffffff) {
    length = fixed(section, 8);
    u->offset_size = 8;
  }
  if (section->bad || length > (uint64_t)(section->end - section->p)) return -1;
  struct cursor unit = {section->p, section->p + length, 0};
  section->p += length;
  u->version = (int)fixed(&unit, 2);
  if (u->version < 2 || u->version > 5) return 0;
  if (u->version >= 5 && (fixed(&unit, 1) != sizeof(uintptr_t) || fixed(&unit, 1) != 0)) return 0;
  uint64_t header_length = fixed(&unit, (size_t)u->offset_size);
  if (unit.bad || header_length > (uint64_t)(unit.end - unit.p)) return 0;
  u->program = (struct cursor){unit.p + header_length, unit.end, 0};
  u->min_length = (uint8_t)fixed(&unit, 1);
  if (u->version >= 4 && fixed(&unit, 1) != 1) return 0; /* VLIW operations: not read */
  fixed(&unit, 1); /* default_is_stmt: every row counts */
  u->line_base = (int8_t)fixed(&unit, 1);
  u->line_range = (uint8_t)fixed(&unit, 1);
  u->opcode_base = (uint8_t)fixed(&unit, 1);
  u->opcode_lengths = unit.p;
  skip(&unit, u->opcode_base ? u->opcode_base - 1u : 0);
  u->tables = (struct cursor){unit.p, u->program.p, 0};
  return !unit.bad && u->line_range != 0 && u->opcode_base != 0 && unit.p <= u->program.p;
}

/* A row found for the address: the file index and line of the row holding it. */
struct row {
  uint64_t file, line;
};

/* Runs the unit's line program: 1 with *found when a row holds target. */
static int run_program(struct unit *u, uintptr_t target, struct row *found) {
  struct cursor *c = &u->program;
  uint64_t address = 0, file = 1, line = 1;
  uint64_t previous_address = 0, previous_file = 0, previous_line = 0;
  int have_previous = 0;
  while (!c->bad && c->p < c->end) {
    uint8_t op = (uint8_t)fixed(c, 1);
    int emit = 0, end_sequence = 0;
    if (op >= u->opcode_base) {
      uint8_t adjusted = (uint8_t)(op - u->opcode_base);
      address += (uint64_t)(adjusted / u->line_range) * u->min_length;
      line += (uint64_t)(int64_t)(u->line_base + adjusted % u->line_range);
      emit = 1;
    } else if (op == 0) {
      uint64_t length = uleb(c);
      if (c->bad || length == 0 || length > (uint64_t)(c->end - c->p)) return 0;
      struct cursor extended = {c->p, c->p + length, 0};
      c->p += length;
      uint8_t sub = (uint8_t)fixed(&extended, 1);
      if (sub == 1) emit = end_sequence = 1;                                     /* end_sequence */
      else if (sub == 2) address = fixed(&extended, (size_t)(length - 1));      /* set_address */
    } else {
      switch (op) {
      case 1: emit = 1; break;                                                      /* copy */
      case 2: address += uleb(c) * u->min_length; break;                           /* advance_pc */
      case 3: line += (uint64_t)sleb(c); break;                                     /* advance_line */
      case 4: file = uleb(c); break;                                                /* set_file */
      case 8: address += (uint64_t)((255 - u->opcode_base) / u->line_range) * u->min_length; break;
      case 9: address += fixed(c, 2); break;                                        /* fixed_advance_pc */
      default:
        for (uint8_t i = 0; i < u->opcode_lengths[op - 1]; i++) uleb(c);
      }
    }
    if (!emit) continue;
    if (have_previous && previous_address <= target && target < address) {
      *found = (struct row){previous_file, previous_line};
      return 1;
    }
    previous_address = address;
    previous_file = file;
    previous_line = line;
    have_previous = !end_sequence;
    if (end_sequence) address = 0, file = 1, line = 1;
  }
  return 0;
}

/* ---- File names ---------------------------------------------------------------------- */

enum { LNCT_PATH = 1, LNCT_DIRECTORY_INDEX = 2 };
enum {
  FORM_BLOCK = 0x09, FORM_DATA1 = 0x0b, FORM_DATA2 = 0x05, FORM_DATA4 = 0x06, FORM_DATA8 = 0x07,
  FORM_DATA16 = 0x1e, FORM_STRING = 0x08, FORM_STRP = 0x0e, FORM_LINE_STRP = 0x1f, FORM_UDATA = 0x0f,
};
#define MAX_ENTRY_FORMATS 8

/* One attribute value of a DWARF 5 entry: a string (or NULL) and a constant. */
struct value {
  const char *string;
  uint64_t constant;
};

static struct value read_form(struct cursor *c, uint64_t form, const struct unit *u, const struct strings *s) {
  struct value v = {NULL, 0};
  switch (form) {
  case FORM_STRING: v.string = inline_string(c); break;
  case FORM_LINE_STRP: v.string = string_at(s->line_str, fixed(c, (size_t)u->offset_size)); break;
  case FORM_STRP: v.string = string_at(s->str, fixed(c, (size_t)u->offset_size)); break;
  case FORM_UDATA: v.constant = uleb(c); break;
  case FORM_DATA1: v.constant = fixed(c, 1); break;
  case FORM_DATA2: v.constant = fixed(c, 2); break;
  case FORM_DATA4: v.constant = fixed(c, 4); break;
  case FORM_DATA8: v.constant = fixed(c, 8); break;
  case FORM_DATA16: skip(c, 16); break;
  case FORM_BLOCK: skip(c, uleb(c)); break;
  default: c->bad = 1; /* strx and the rest: not read */
  }
  return v;
}

/* DWARF 5: the path and directory index of entry `wanted` of the table at the cursor
 * (or of none, to step over the table). 1 when it was found. */
static int read_table(struct cursor *c, const struct unit *u, const struct strings *s, uint64_t wanted,
                      const char **path, uint64_t *directory) {
  uint64_t format[MAX_ENTRY_FORMATS][2];
  uint64_t formats = fixed(c, 1);
  if (formats > MAX_ENTRY_FORMATS) c->bad = 1;
  for (uint64_t i = 0; i < formats && !c->bad; i++) {
    format[i][0] = uleb(c);
    format[i][1] = uleb(c);
  }
  uint64_t count = uleb(c);
  int found = 0;
  for (uint64_t entry = 0; entry < count && !c->bad; entry++) {
    for (uint64_t i = 0; i < formats && !c->bad; i++) {
      struct value v = read_form(c, format[i][1], u, s);
      if (entry != wanted) continue;
      found = 1;
      if (format[i][0] == LNCT_PATH) *path = v.string;
      if (format[i][0] == LNCT_DIRECTORY_INDEX) *directory = v.constant;
    }
  }
  return found && !c->bad;
}

/* DWARF 2-4: entry `wanted` (counted from 1) of the NUL-terminated tables at the cursor,
 * and its directory (NULL for the compilation directory, index 0). */
static int read_old_tables(struct cursor *c, uint64_t wanted, const char **path, const char **directory) {
  struct cursor directories = *c;
  while (!c->bad && c->p < c->end && *c->p) inline_string(c);
  skip(c, 1);
  uint64_t directory_index = 0;
  for (uint64_t entry = 1; !c->bad && c->p < c->end && *c->p; entry++) {
    const char *name = inline_string(c);
    uint64_t index = uleb(c);
    uleb(c); /* modification time */
    uleb(c); /* length */
    if (entry == wanted) {
      *path = name;
      directory_index = index;
    }
  }
  for (uint64_t entry = 1; !directories.bad && directories.p < directories.end && *directories.p; entry++) {
    const char *name = inline_string(&directories);
    if (entry == directory_index) *directory = name;
  }
  return !c->bad && *path;
}

/* The file of index `file` in the unit's tables, and its directory. */
static int file_name(struct unit *u, const struct strings *s, uint64_t file, const char **path,
                     const char **directory) {
  *path = *directory = NULL;
  struct cursor *c = &u->tables;
  if (u->version < 5) return read_old_tables(c, file, path, directory);
  struct cursor directories = *c;
  const char *ignored;
  uint64_t unused, directory_index = 0;
  read_table(c, u, s, UINT64_MAX, &ignored, &unused); /* step over the directories */
  if (!read_table(c, u, s, file, path, &directory_index) || !*path) return 0;
  if (!read_table(&directories, u, s, directory_index, directory, &unused)) *directory = NULL;
  return 1;
}

/* "directory/path" into out, or path alone when it is absolute, has no directory, or
 * the two do not fit; cut at size - 1 bytes. */
static void join(const char *directory, const char *path, char *out, size_t size) {
  size_t d = directory ? strlen(directory) : 0, n = strlen(path);
  size_t at = 0;
  if (path[0] != '/' && d && d + 1 + n < size) {
    memcpy(out, directory, d);
    out[d] = '/';
    at = d + 1;
  }
  if (n > size - 1 - at) n = size - 1 - at;
  memcpy(out + at, path, n);
  out[at + n] = 0;
}

int zms_line_of(const struct zms_object_file *file, uintptr_t address, char *path, size_t size, unsigned *line) {
  struct zms_bytes section;
  struct strings s = {{NULL, 0}, {NULL, 0}};
  if (size == 0 || !zms_object_section_named(file, ".debug_line", &section)) return 0;
  zms_object_section_named(file, ".debug_line_str", &s.line_str);
  zms_object_section_named(file, ".debug_str", &s.str);
  struct cursor units = {section.start, section.start + section.size, 0};
  struct unit u;
  for (int readable; units.p < units.end && (readable = read_unit(&units, &u)) >= 0;) {
    struct row row;
    if (!readable || !run_program(&u, address, &row)) continue;
    const char *name, *directory;
    if (!file_name(&u, &s, row.file, &name, &directory) || row.line == 0 || row.line > UINT32_MAX) return 0;
    join(directory, name, path, size);
    *line = (unsigned)row.line;
    return 1;
  }
  return 0;
}
