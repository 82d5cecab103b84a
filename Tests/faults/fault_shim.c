/*
 * fault_shim.c: makes the allocator's memory system calls fail (issue 23, part 2).
 *
 * Preload it in front of the library: LD_PRELOAD="fault_shim.so libzonemalloc.so". It
 * defines mmap, munmap, mremap and madvise (and mprotect, off unless asked for), so the
 * calls that libzonemalloc.so makes through its PLT reach this file first. Each call
 * either fails as the kernel would (the mapping left as it was, -1 or MAP_FAILED, errno
 * ENOMEM; EAGAIN for madvise) or is made with syscall(2). Only calls whose return
 * address lies in libzonemalloc.so are candidates (the program's own mmap, and any
 * other library's, go through untouched); the loader's and glibc's own mappings (thread
 * stacks, stdio) use glibc's internal entry points and never reach a PLT.
 *
 * Environment:
 *   ZF_FAULT_RATE=1        fail this percentage of the candidate calls (0.01 .. 100)
 *   ZF_FAULT_SEED=7        the seed of the random choice (which call numbers fail)
 *   ZF_FAULT_PID=1         mix the pid into the seed: each process of a command that
 *                          starts many fails its own calls (not the same call numbers)
 *   ZF_FAULT_NTH=N         fail only the Nth candidate call (1-based); with RATE, both
 *   ZF_FAULT_AFTER=N       no failure among the first N candidate calls
 *   ZF_FAULT_SPARE=3,5     never fail these call numbers (up to 8)
 *   ZF_FAULT_CALLS=mmap,munmap,mremap,madvise   which calls are candidates (mprotect too)
 *   ZF_FAULT_REPORT=1      at exit, one line on stderr: calls and failures per function
 *   ZF_FAULT_TRACE=1       one line on stderr per candidate call: its number, the
 *                          function, the length, whether it was failed, the caller
 *
 * fault_shim_pause(1) stops the failures (and 0 resumes them), for a program that looks
 * the function up with dlsym. It never allocates (it runs inside the allocator): no dlsym, no stdio; the environment
 * is read from `environ` on the first call; the report is written with write(2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

enum { F_MMAP, F_MUNMAP, F_MREMAP, F_MADVISE, F_MPROTECT, F_COUNT };
static const char *const names[F_COUNT] = {"mmap", "munmap", "mremap", "madvise", "mprotect"};

static atomic_int state; /* 0: not read yet, 1: being read, 2: ready */
static uint64_t rate_per_million, seed = 7, nth, after, spare[8];
static int enabled[F_COUNT] = {1, 1, 1, 1, 0};
static int report, trace;
static int out_fd = 2; /* a copy of stderr: coreutils close fd 2 before the destructors run */
static uintptr_t lib_start, lib_end;
static atomic_ullong candidates, calls[F_COUNT], failures[F_COUNT];
static atomic_int paused;

/* A program that knows the shim may pause the injection (1) and resume it (0); the
 * fault tests' program pauses it to check that the allocator works again. */
void fault_shim_pause(int pause) { atomic_store(&paused, pause); }

static const char *env(const char *name) {
  size_t n = strlen(name);
  for (char **e = environ; e && *e; e++)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

static uint64_t number(const char *s) {
  uint64_t v = 0;
  while (s && *s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
  return v;
}

/* "1.5" percent as parts per million. */
static uint64_t percent_ppm(const char *s) {
  uint64_t whole = number(s) * 10000, fraction = 0, scale = 1000;
  const char *dot = s ? strchr(s, '.') : NULL;
  for (const char *d = dot ? dot + 1 : ""; *d >= '0' && *d <= '9' && scale; d++, scale /= 10)
    fraction += (uint64_t)(*d - '0') * scale;
  return whole + fraction;
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27; x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static int find_library(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size, (void)data;
  if (!info->dlpi_name || !strstr(info->dlpi_name, "libzonemalloc")) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
    if (!lib_start || start < lib_start) lib_start = start;
    if (end > lib_end) lib_end = end;
  }
  return 1;
}

static void configure(void) {
  const char *calls_list = env("ZF_FAULT_CALLS");
  if (calls_list)
    for (int f = 0; f < F_COUNT; f++) enabled[f] = strstr(calls_list, names[f]) != NULL;
  rate_per_million = percent_ppm(env("ZF_FAULT_RATE"));
  if (env("ZF_FAULT_SEED")) seed = number(env("ZF_FAULT_SEED"));
  nth = number(env("ZF_FAULT_NTH"));
  after = number(env("ZF_FAULT_AFTER"));
  const char *list = env("ZF_FAULT_SPARE");
  for (int i = 0; list && *list && i < 8; i++) {
    spare[i] = number(list);
    list = strchr(list, ',');
    list = list ? list + 1 : NULL;
  }
  report = env("ZF_FAULT_REPORT") != NULL;
  trace = env("ZF_FAULT_TRACE") != NULL;
  if (report || trace) {
    int copy = fcntl(2, F_DUPFD_CLOEXEC, 64);
    if (copy >= 0) out_fd = copy;
  }
  if (env("ZF_FAULT_PID")) seed ^= mix(0x9e3779b97f4a7c15ULL * (uint64_t)getpid());
  dl_iterate_phdr(find_library, NULL);
}

/* A line built without allocating, written with one write(2). */
typedef struct { char text[512]; size_t n; } line_t;

static void put(line_t *l, const char *s) {
  while (*s && l->n < sizeof l->text - 2) l->text[l->n++] = *s++;
}

static void put_number(line_t *l, uint64_t v, int base) {
  char digits[24];
  int i = 0;
  do digits[i++] = "0123456789abcdef"[v % base]; while (v /= base);
  while (i && l->n < sizeof l->text - 2) l->text[l->n++] = digits[--i];
}

static void put_end(line_t *l) {
  l->text[l->n++] = '\n';
  (void)!write(out_fd, l->text, l->n);
}


/* Whether this call (function f, returning to `caller`) is to fail. */
static int should_fail(int f, void *caller, size_t length) {
  int s = atomic_load(&state);
  if (s != 2) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&state, &expected, 1)) return 0; /* another thread is reading */
    configure();
    atomic_store(&state, 2);
  }
  atomic_fetch_add_explicit(&calls[f], 1, memory_order_relaxed);
  uintptr_t at = (uintptr_t)caller;
  if (!enabled[f] || at < lib_start || at >= lib_end || atomic_load_explicit(&paused, memory_order_relaxed)) return 0;
  uint64_t k = atomic_fetch_add_explicit(&candidates, 1, memory_order_relaxed) + 1;
  int fail = (nth && k == nth) || (k > after && rate_per_million && mix(seed ^ mix(k)) % 1000000 < rate_per_million);
  for (int i = 0; i < 8 && spare[i]; i++)
    if (k == spare[i]) fail = 0;
  if (fail) atomic_fetch_add_explicit(&failures[f], 1, memory_order_relaxed);
  if (trace) {
    line_t l = {.n = 0};
    put(&l, "fault_shim: call "); put_number(&l, k, 10); put(&l, " "); put(&l, names[f]);
    put(&l, " length "); put_number(&l, length, 10); put(&l, fail ? " FAILED" : " ok");
    put(&l, " from libzonemalloc+0x"); put_number(&l, at - lib_start, 16);
    put_end(&l);
  }
  return fail;
}

#define CALLER __builtin_return_address(0)

void *mmap(void *address, size_t length, int prot, int flags, int fd, off_t offset) {
  if (should_fail(F_MMAP, CALLER, length)) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  long r = syscall(SYS_mmap, address, length, prot, flags, fd, offset);
  return r == -1 ? MAP_FAILED : (void *)r;
}

int munmap(void *address, size_t length) {
  if (should_fail(F_MUNMAP, CALLER, length)) { /* the kernel's ENOMEM: splitting would pass max_map_count */
    errno = ENOMEM;
    return -1;
  }
  return (int)syscall(SYS_munmap, address, length);
}

void *mremap(void *old, size_t old_length, size_t new_length, int flags, ...) {
  void *fixed = NULL;
  if (flags & MREMAP_FIXED) {
    va_list args;
    va_start(args, flags);
    fixed = va_arg(args, void *);
    va_end(args);
  }
  if (should_fail(F_MREMAP, CALLER, new_length)) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  long r = syscall(SYS_mremap, old, old_length, new_length, flags, fixed);
  return r == -1 ? MAP_FAILED : (void *)r;
}

int madvise(void *address, size_t length, int advice) {
  if (should_fail(F_MADVISE, CALLER, length)) {
    errno = EAGAIN;
    return -1;
  }
  return (int)syscall(SYS_madvise, address, length, advice);
}

int mprotect(void *address, size_t length, int prot) {
  if (should_fail(F_MPROTECT, CALLER, length)) {
    errno = ENOMEM;
    return -1;
  }
  return (int)syscall(SYS_mprotect, address, length, prot);
}

/* "fault_shim: pid 42 library 1 candidates 120 mmap 10/1 munmap ..." (calls/failures). */
__attribute__((destructor)) static void print_report(void) {
  if (!report) return;
  line_t l = {.n = 0};
  put(&l, "fault_shim: pid "); put_number(&l, (uint64_t)getpid(), 10);
  put(&l, " library "); put_number(&l, lib_start != 0, 10);
  put(&l, " candidates "); put_number(&l, atomic_load(&candidates), 10);
  for (int f = 0; f < F_COUNT; f++) {
    put(&l, " "); put(&l, names[f]); put(&l, " "); put_number(&l, atomic_load(&calls[f]), 10);
    put(&l, "/"); put_number(&l, atomic_load(&failures[f]), 10);
  }
  put_end(&l);
}
