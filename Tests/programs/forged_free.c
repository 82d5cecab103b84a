/*
 * forged_free.c: a pointer into zonemalloc's own memory, dressed up as a glibc block by
 * a header the program writes before it, must be refused with zonemalloc's one-line
 * abort, never handed to glibc (whose free of an "mmapped chunk" would munmap the range
 * the header names: memory zonemalloc still uses).
 *
 * Usage: forged_free TARGET HEADER CALL [probe]
 *   TARGET  where the pointer P lies:
 *     small      16 bytes into a live 64-byte block;
 *     medium     32 KiB + 16 into a live 100 KB block (a span);
 *     big        1 MiB + 16 into a live 8 MiB block (a mapping of its own);
 *     committed  the last 64 KiB of the committed part of the arena window that holds
 *                the small block: committed (writable) but never carved into a slab;
 *     reserved   the middle of the PROT_NONE rest of that window: reserved, unused, and
 *                not writable (so HEADER must be none).
 *     How the window's parts are found: windows are 64 MiB aligned; a window is
 *     reserved PROT_NONE, its header array and then its slabs are committed from its
 *     start upward in 1 MiB steps, and slabs are carved from the start upward by a bump
 *     pointer. /proc/self/maps shows the window as a read-write mapping (the committed
 *     part) followed by a PROT_NONE one (the rest). This program uses a few slabs, so
 *     the end of the first committed MiB and everything after it hold no block.
 *   HEADER  what is written in the 16 bytes before P (the header of the fake chunk at
 *           C = P - 16), always inside the victim's memory:
 *     mmapped  prev_size = C mod 4096 and size = (8192 - prev_size) | IS_MMAPPED: glibc's
 *              free would munmap the two pages from the page of C (the "sentinel");
 *     main     size 48 | PREV_INUSE, and the next chunk's header marks it in use: a
 *              plausible chunk of glibc's main arena;
 *     arena    the same with NON_MAIN_ARENA set (the 64 MiB-aligned "heap" glibc would
 *              look at is then the start of zonemalloc's window);
 *     none     nothing written.
 *   CALL    free, realloc (to 100 bytes) or usable (malloc_usable_size).
 *   probe   installs a SIGABRT handler that checks the sentinel pages are still mapped
 *           (mincore) and unchanged, then exits 42 (43 unmapped, 44 changed).
 * Prints P with "%p" on stdout (flushed) before the call. If the call returns, prints
 * "survived" and exits 0: a failure for the test.
 */
#include "common.h"
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE ((uintptr_t)4096)
#define WINDOW ((uintptr_t)64 << 20)

static uintptr_t sentinel;
static uint64_t sentinel_sum;
static int sentinel_readable;

static uint64_t sum_pages(uintptr_t start) {
  uint64_t sum = 0;
  for (const uint64_t *w = (const uint64_t *)start; w < (const uint64_t *)(start + 2 * PAGE); w++) sum = zt_mix(sum ^ *w);
  return sum;
}

static void on_abort(int sig) {
  (void)sig;
  unsigned char vec[2];
  if (mincore((void *)sentinel, 2 * PAGE, vec) != 0) _exit(43);
  if (sentinel_readable && sum_pages(sentinel) != sentinel_sum) _exit(44);
  _exit(42);
}

/* The [start, end) of the read-write and of the PROT_NONE mapping inside the 64 MiB
 * window holding address, from /proc/self/maps (read with a stack buffer: no malloc). */
static void window_parts(uintptr_t address, uintptr_t rw[2], uintptr_t none[2]) {
  uintptr_t window = address & ~(WINDOW - 1);
  static char buf[1 << 20];
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) ZT_FAIL("cannot open /proc/self/maps");
  setvbuf(f, NULL, _IONBF, 0);
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = 0;
  rw[0] = rw[1] = none[0] = none[1] = 0;
  for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    unsigned long start, end;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3) continue;
    if (end <= window || start >= window + WINDOW) continue;
    if (start <= address && address < end && perms[0] == 'r' && perms[1] == 'w') { rw[0] = start; rw[1] = end; }
    if (perms[0] == '-' && perms[1] == '-' && rw[1] == start) { none[0] = start; none[1] = end; }
  }
  if (!rw[1] || !none[1]) ZT_FAIL("no read-write and PROT_NONE parts of the window at %#lx in /proc/self/maps", (unsigned long)window);
}

static uintptr_t target(const char *name) {
  if (strcmp(name, "small") == 0) return (uintptr_t)malloc(64) + 16;
  if (strcmp(name, "medium") == 0) return (uintptr_t)malloc(100000) + (32 << 10) + 16;
  if (strcmp(name, "big") == 0) return (uintptr_t)malloc(8 << 20) + (1 << 20) + 16;
  uintptr_t rw[2], none[2];
  window_parts((uintptr_t)malloc(64), rw, none);
  if (strcmp(name, "committed") == 0) return rw[1] - (64 << 10) + 16;
  if (strcmp(name, "reserved") == 0) return (none[0] + (none[1] - none[0]) / 2) & ~(PAGE - 1);
  ZT_FAIL("unknown target %s", name);
}

static void forge(uintptr_t p, const char *kind) {
  size_t *chunk = (size_t *)(p - 16);
  if (strcmp(kind, "mmapped") == 0) {
    chunk[0] = (p - 16) % PAGE;
    chunk[1] = (2 * PAGE - chunk[0]) | 2;
  } else if (strcmp(kind, "main") == 0 || strcmp(kind, "arena") == 0) {
    chunk[1] = 48 | 1 | (kind[0] == 'a' ? 4 : 0);
    chunk[7] = 32 | 1; /* the next chunk's size word: PREV_INUSE, ours is in use */
  } else if (strcmp(kind, "none") != 0) {
    ZT_FAIL("unknown header %s", kind);
  }
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5) ZT_FAIL("usage: forged_free TARGET HEADER CALL [probe]");
  uintptr_t p = target(argv[1]);
  if (strcmp(argv[2], "none") != 0) {
    if (strcmp(argv[1], "small") != 0) memset((void *)((p - 16) & ~(PAGE - 1)), 0x5a, 2 * PAGE);
    forge(p, argv[2]);
  }
  sentinel = (p - 16) & ~(PAGE - 1);
  sentinel_readable = strcmp(argv[1], "reserved") != 0;
  if (sentinel_readable) sentinel_sum = sum_pages(sentinel);
  if (argc == 5 && strcmp(argv[4], "probe") == 0) signal(SIGABRT, on_abort);
  printf("%p\n", (void *)p);
  fflush(stdout);
  void *volatile victim = (void *)p;
  if (strcmp(argv[3], "free") == 0) free(victim);
  else if (strcmp(argv[3], "realloc") == 0) victim = realloc(victim, 100);
  else if (strcmp(argv[3], "usable") == 0) printf("usable %zu\n", malloc_usable_size(victim));
  else ZT_FAIL("unknown call %s", argv[3]);
  printf("survived\n");
  return 0;
}
