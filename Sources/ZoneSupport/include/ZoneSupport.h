/*
 * ZoneSupport: the few things Embedded Swift cannot spell, and no allocator policy.
 *
 *  - The thread slot: an initial-exec __thread pointer to the thread's zone, read through
 *    static inline accessors. It starts out pointing at a static *empty zone* whose
 *    per-class slab pointers all name a zero-filled *sentinel slab*, so the malloc fast
 *    path needs no "has this thread got a zone?" test: a sentinel never has a free chunk.
 *    A thread whose zone was torn down points at the *exited zone*, which looks the same
 *    to the fast paths but tells the slow paths not to create a zone for a late free.
 *  - Statically initialised locks (pthread mutexes need PTHREAD_MUTEX_INITIALIZER), the
 *    per-thread record of the lock classes held, and the repair of a forked child.
 *  - The region table: one byte per 64 MiB window of the address space saying whether the
 *    window is a zonemalloc slab arena (and of which NUMA node). free() consults it before
 *    it touches anything, which is how foreign pointers are recognised safely.
 *  - Wrappers for what is variadic or macro-only in libc (mremap, open, fcntl, prctl,
 *    sigaction, errno, MAP_FAILED), the background thread's wake-up (Wakeup.c), stack
 *    walks with cached rules from the program's unwind tables (Backtrace.c, FrameRules.c)
 *    and their symbols from the loaded objects' own tables (Symbols.c), the SIGSEGV handler of the guarded slots
 *    (FaultSignal.c), and the libnuma bridge (Numa.c). libgcc_s (for its FDE lookup) and
 *    libnuma are loaded with dlopen.
 */
#ifndef ZONE_SUPPORT_H
#define ZONE_SUPPORT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <fcntl.h>

/* The public API, so that Swift fills zm_stats_t from the one definition. */
#include "../../../include/zonemalloc.h"

/* ---- The thread slot ------------------------------------------------------------- */

#define ZMS_EMPTY_ZONE_WORDS 1024 /* 8 KiB: at least sizeof(Zone), checked at boot */
#define ZMS_CLASS_COUNT 64
/* A zone's first words, which point at the sentinel slab in the static zones: 65 buckets
 * of the small bucket table (sizes 0 to 1 KiB in 16-byte steps), 129 of the wide one
 * (sizes to 16 KiB in 128-byte steps) and 64 class slots. */
#define ZMS_SENTINEL_WORDS (65 + 129 + ZMS_CLASS_COUNT)
/* The word of a slab header that holds its base (Slab.base; boot checks the sentinel's). */
#define ZMS_SENTINEL_BASE_WORD 3

extern __thread void *zms_zone_slot __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern void *zms_empty_zone[ZMS_EMPTY_ZONE_WORDS];
extern void *zms_exited_zone[ZMS_EMPTY_ZONE_WORDS];

static inline __attribute__((always_inline)) void *zms_zone(void) { return zms_zone_slot; }
static inline void zms_set_zone(void *zone) { zms_zone_slot = zone; }
static inline void *zms_empty_zone_address(void) { return (void *)zms_empty_zone; }
static inline void *zms_exited_zone_address(void) { return (void *)zms_exited_zone; }
static inline size_t zms_empty_zone_bytes(void) { return sizeof(zms_empty_zone); }

/* The sampled features' per-thread state (Sampling/SampleRandom.swift, GuardedSlots.swift):
 * a xorshift state (0 until the thread's first draw) and a depth that, while above 0,
 * keeps the thread's allocations out of the guarded slots. */
struct zms_sampler_thread {
  uint64_t random;
  uint64_t holdoff;
};
extern __thread struct zms_sampler_thread zms_sampler_thread_state
  __attribute__((tls_model("initial-exec"), visibility("hidden")));
static inline struct zms_sampler_thread *zms_sampler_state(void) { return &zms_sampler_thread_state; }

/* ---- The region table ------------------------------------------------------------ */

#define ZMS_REGION_SHIFT 26                                   /* a window: 64 MiB */
/* user address space: 128 TiB on x86-64; 256 TiB on AArch64, where Linux hands out mmap
 * addresses just below 2^48 (qemu-user on an x86-64 host stays below 2^47) */
#if defined(__aarch64__)
#define ZMS_ADDRESS_BITS 48
#else
#define ZMS_ADDRESS_BITS 47
#endif
#define ZMS_REGION_COUNT (1u << (ZMS_ADDRESS_BITS - ZMS_REGION_SHIFT))

extern uint8_t zms_regions[ZMS_REGION_COUNT];

/* 0 if the address is not in a slab arena, else the arena's NUMA node + 1. Hot. */
static inline __attribute__((always_inline)) unsigned zms_region_of(uintptr_t address) {
  uintptr_t index = address >> ZMS_REGION_SHIFT;
  return index < ZMS_REGION_COUNT ? __atomic_load_n(&zms_regions[index], __ATOMIC_RELAXED) : 0;
}
/* free()'s form of the index: address bits 26 to ZMS_ADDRESS_BITS - 1 (an address above
 * user space aliases a region; free's slow path tells it apart), for the header map
 * below. Hot. */
static inline __attribute__((always_inline)) uintptr_t zms_region_index(uintptr_t address) {
  return (address << (64 - ZMS_ADDRESS_BITS)) >> (64 - ZMS_ADDRESS_BITS + ZMS_REGION_SHIFT);
}
static inline void zms_region_set(uintptr_t index, unsigned value) {
  __atomic_store_n(&zms_regions[index], (uint8_t)value, __ATOMIC_RELEASE);
}

/* free()'s way to a slab header without a test: every region has an array of headers to
 * read. A region's entry is the address of its header array (its first bytes) less that
 * of `absent`, or 0 without an arena, whose address then finds absent's zeros, whose
 * chunk-start limit 0 passes nothing. Only pages of entries that were set take memory. */
#define ZMS_HEADER_ARRAY_BYTES ((1u << (ZMS_REGION_SHIFT - 16)) * 128) /* 64 KiB granules, 128-byte headers */
struct zms_header_map {
  unsigned char absent[ZMS_HEADER_ARRAY_BYTES] __attribute__((aligned(4096)));
  uintptr_t offset[ZMS_REGION_COUNT];
};
extern struct zms_header_map zms_header_map;
static inline size_t zms_header_array_bytes(void) { return sizeof(zms_header_map.absent); }
/* The header array of a region index (zms_region_index). Hot. */
static inline __attribute__((always_inline)) uintptr_t zms_headers_of(uintptr_t index) {
  return (uintptr_t)zms_header_map.absent + __atomic_load_n(&zms_header_map.offset[index], __ATOMIC_RELAXED);
}
static inline void zms_headers_set(uintptr_t index, uintptr_t headers) {
  __atomic_store_n(&zms_header_map.offset[index], headers - (uintptr_t)zms_header_map.absent, __ATOMIC_RELEASE);
}

/* ---- Locks (Locks.c) ------------------------------------------------------------- */

/* Lock classes, outermost first: a thread takes a lock only while every lock it holds is
 * of an earlier class. docs/DESIGN.md ("Locks") says what each guards and its fork rule. */
enum {
  ZMS_CLASS_EXIT,      /* the shared zone of threads past their teardown */
  ZMS_CLASS_RECLAIM,   /* limit reclaim passes */
  ZMS_CLASS_TEARDOWN,  /* teardown slots (at most ncpus teardowns at once) */
  ZMS_CLASS_ZONES,     /* zone records and their lists */
  ZMS_CLASS_ORPHANS,   /* orphan slab lists */
  ZMS_CLASS_DEPOT,     /* a node's depot of empty slabs */
  ZMS_CLASS_ARENA,     /* a node's arena bump pointer */
  ZMS_CLASS_PURGE,     /* the lazy-unmap purger: a sleeping mutex, held across munmap */
  ZMS_CLASS_BIG,       /* big-block registry and lazy cache: short holds; grows its tables with mmap */
  ZMS_CLASS_WAKE,      /* the background thread's wake-up */
  ZMS_CLASS_PROFILE,   /* the heap profiler's tables: a leaf, held across open and write only */
};

/* The locks that are not per node or per slot, by index. */
enum { ZMS_LOCK_EXIT, ZMS_LOCK_RECLAIM, ZMS_LOCK_ZONES, ZMS_LOCK_ORPHANS, ZMS_LOCK_PURGE, ZMS_LOCK_BIG,
       ZMS_LOCK_PROFILE, ZMS_GLOBAL_LOCKS };
#define ZMS_MAX_NODES 64
#define ZMS_MAX_TEARDOWN_SLOTS 64

extern pthread_mutex_t zms_global_locks[ZMS_GLOBAL_LOCKS];
extern pthread_mutex_t zms_depot_locks[ZMS_MAX_NODES];
extern pthread_mutex_t zms_arena_locks[ZMS_MAX_NODES];
extern pthread_mutex_t zms_teardown_locks[ZMS_MAX_TEARDOWN_SLOTS];

static inline pthread_mutex_t *zms_global_lock(int id) { return &zms_global_locks[id]; }
static inline pthread_mutex_t *zms_depot_lock(int node) { return &zms_depot_locks[node]; }
static inline pthread_mutex_t *zms_arena_lock(int node) { return &zms_arena_locks[node]; }
static inline pthread_mutex_t *zms_teardown_lock(int slot) { return &zms_teardown_locks[slot]; }

extern __thread uint32_t zms_held_classes __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern int zms_check_lock_order;
extern uint64_t *zms_fork_word;

/* Maps the MADV_WIPEONFORK page (boot). */
void zms_fork_word_setup(void);
/* Repairs a forked child (one thread does it; the others wait). */
void zms_fork_repair(void);
/* What the repair does beyond re-creating the locks: set by the runtime at boot (the
 * support library names nothing of the layers above it). */
void zms_set_fork_repair(void (*repair)(void));
void zms_lock_order_violation(unsigned cls) __attribute__((noreturn));

/* Which locks a vanished thread held at fork: bits of the global, depot and arena locks. */
struct zms_held_at_fork {
  uint32_t global;
  uint64_t depots;
  uint64_t arenas;
};
/* Re-creates every lock in a forked child and reports which were held. */
struct zms_held_at_fork zms_reinit_locks_after_fork(void);

static inline void zms_lock_prologue(unsigned cls) {
  if (__builtin_expect(__atomic_load_n(zms_fork_word, __ATOMIC_ACQUIRE) != 1, 0)) zms_fork_repair();
  if (__builtin_expect(zms_check_lock_order, 0) && (zms_held_classes >> cls) != 0) zms_lock_order_violation(cls);
}

/* The record is set before the mutex is taken and cleared after it is released, so a
 * signal handler that finds no class recorded knows its thread holds no allocator lock. */
static inline void zms_lock(pthread_mutex_t *lock, unsigned cls) {
  zms_lock_prologue(cls);
  zms_held_classes |= 1u << cls;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  pthread_mutex_lock(lock);
}

static inline bool zms_trylock(pthread_mutex_t *lock, unsigned cls) {
  zms_lock_prologue(cls);
  zms_held_classes |= 1u << cls;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (pthread_mutex_trylock(lock) == 0) return true;
  zms_held_classes &= ~(1u << cls);
  return false;
}

/* True when the calling thread holds (or is taking) a lock of the class. */
static inline bool zms_holds_class(unsigned cls) { return (zms_held_classes >> cls) & 1; }

/* For paths that must not block (exit, signal handlers): a try, which cannot deadlock,
 * so the order is not checked. The caller checks first that it holds no lock of the class. */
static inline bool zms_trylock_anywhere(pthread_mutex_t *lock, unsigned cls) {
  if (__builtin_expect(__atomic_load_n(zms_fork_word, __ATOMIC_ACQUIRE) != 1, 0)) zms_fork_repair();
  zms_held_classes |= 1u << cls;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (pthread_mutex_trylock(lock) == 0) return true;
  zms_held_classes &= ~(1u << cls);
  return false;
}

static inline void zms_unlock(pthread_mutex_t *lock, unsigned cls) {
  pthread_mutex_unlock(lock);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  zms_held_classes &= ~(1u << cls);
}

/* True in a forked child that has not been repaired yet. */
static inline bool zms_needs_fork_repair(void) { return __atomic_load_n(zms_fork_word, __ATOMIC_ACQUIRE) != 1; }
static inline void zms_set_check_lock_order(bool on) { zms_check_lock_order = on; }

/* True when the calling thread holds no allocator lock: it may call out of the allocator. */
static inline bool zms_holds_no_lock(void) { return zms_held_classes == 0; }

/* ---- libc wrappers --------------------------------------------------------------- */

static inline int zms_errno(void) { return errno; }
static inline void zms_set_errno(int value) { errno = value; }

/* mmap that answers NULL instead of MAP_FAILED. */
void *zms_mmap(void *hint, size_t length, int prot, int flags);
/* PROT_NONE, MAP_NORESERVE address space at exactly `address` if it is free
 * (MAP_FIXED_NOREPLACE; older kernels treat it as a hint), or NULL. */
void *zms_reserve_at(void *address, size_t length);
/* The end of the main executable's highest loaded segment (from the auxiliary vector:
 * no /proc needed), 0 if unknown. glibc's brk heap starts above it. */
uintptr_t zms_executable_end(void);
/* open(path, O_RDONLY | O_CLOEXEC): open is variadic. */
int zms_open_readonly(const char *path);
/* open(path, flags | O_CLOEXEC, mode), for files the library creates or appends to. */
int zms_open_create(const char *path, int flags, int mode);
/* The text of an errno value ("No such file or directory"), from a static table:
 * async-signal-safe, unlike strerror. */
const char *zms_error_text(int error);
/* fcntl(fd, F_DUPFD_CLOEXEC, 3): a close-on-exec duplicate, or -1. */
int zms_dup_cloexec(int fd);
/* Copies path (the ZONEMALLOC_STATS file, the ZONEMALLOC_PROF_FILE pattern) into static
 * storage, where the program cannot overwrite it as it may its environment
 * (setproctitle); NULL if it is PATH_MAX or longer. Called at boot only, once per path. */
const char *zms_keep_path(const char *path);
/* The process's environment, environ (for the boot-time scan of the ZONEMALLOC_* names). */
char **zms_environment(void);
/* True when the n bytes at text lie among the strings execve placed at the top of the
 * main thread's stack (above __libc_stack_end, below the AT_EXECFN string): memory that
 * is writable whatever the program has done to its environment since. */
bool zms_in_exec_strings(const char *text, size_t n);
/* The calling thread's name, prctl(PR_GET_NAME) (the program's, comm, on the main
 * thread): at most 15 bytes and a NUL; empty if prctl fails. */
void zms_thread_name(char name[16]);
/* sigaction(signal) with SA_RESTART and every other signal blocked in the handler. */
int zms_catch_signal(int signal, void (*handler)(int));
/* mremap(MREMAP_MAYMOVE); NULL on failure. */
void *zms_mremap(void *old_address, size_t old_length, size_t new_length);

/* A store ordered after every store before it (a fork sees it only with them). */
static inline void zms_store_release(uintptr_t *word, uintptr_t value) {
  __atomic_store_n(word, value, __ATOMIC_RELEASE);
}

static inline void zms_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* The background thread's sleep (Wakeup.c): returns after `milliseconds` or when woken. */
void zms_background_sleep(unsigned milliseconds);
void zms_background_wake(void);
void zms_background_reinit(void);

/* glibc's own allocator, for pointers it handed out before zonemalloc was loaded. */
extern void __libc_free(void *);

/* ---- Stacks (Backtrace.c) --------------------------------------------------------- */

/* Loads libgcc_s's FDE lookup (dlopen: call it where allocating is allowed); 0 or -1. */
int zms_backtrace_setup(void);
/* Up to max return addresses of the program's stack, innermost first: from its call
 * into the allocator (the allocator's own frames are left out). 0 when the setup has not
 * run. Allocates nothing. */
int zms_backtrace(uintptr_t *out, int max);
/* The stack of the code a signal interrupted, from the handler's context (ucontext_t):
 * its pc first, then return addresses. 0 when the setup has not run. Allocates nothing. */
int zms_backtrace_of_signal(const void *context, uintptr_t *out, int max);
/* An address inside libzonemalloc's own code, so a reader of a profile can tell the
 * allocator's frames from the program's. */
uintptr_t zms_text_address(void);

/* What is known of a code address (Symbols.c): the loaded object holding it, the
 * function holding it (from the object file's .symtab, or its loaded .dynsym when the
 * file has none or cannot be read), the offset from that function (or from the object's
 * load bias when no function is known), and the source file and line from the file's
 * .debug_line when it has one. */
#define ZMS_SYMBOL_NAME_SIZE 128
#define ZMS_SYMBOL_FILE_SIZE 160
struct zms_symbol {
  const char *object; /* the path the object was loaded from (the program's argv[0]) */
  uintptr_t offset;
  unsigned line;      /* 0 when unknown, and then file is empty */
  int stripped;       /* the object's file was read and has no .symtab */
  char name[ZMS_SYMBOL_NAME_SIZE]; /* empty when unknown */
  char file[ZMS_SYMBOL_FILE_SIZE];
};
/* 1 with *out filled, 0 when no loaded object holds the address. is_return_address says
 * the address follows a call (a stack's return address: the call is what is named) rather
 * than being the instruction itself (a faulting pc). Takes no lock and allocates nothing:
 * the SIGSEGV handler calls it. */
int zms_symbolize(uintptr_t address, int is_return_address, struct zms_symbol *out);

/* ---- The guarded slots' SIGSEGV handler (FaultSignal.c) -------------------------- */

/* Called with the faulting address, the access (ZMS_ACCESS_*) and the signal's context
 * (ucontext_t, for zms_backtrace_of_signal). It does not return
 * when the fault is its own (it reports and aborts); when it returns, the fault goes to
 * the handler that was installed before, or to the default action. */
typedef void (*zms_fault_hook)(uintptr_t address, int access, const void *context);
enum { ZMS_ACCESS_UNKNOWN, ZMS_ACCESS_READ, ZMS_ACCESS_WRITE };

/* Installs the handler in front of the current one; 0 or -1. */
int zms_fault_install(zms_fault_hook hook);
/* Puts the handler back in front if the program replaced it (one system call when it
 * has not), chaining to the program's handler from then on. */
void zms_fault_reclaim(void);

/* ---- libnuma bridge (Numa.c) ----------------------------------------------------- */

/* True when sysfs lists a second node (no libnuma needed to ask). */
int zms_numa_multiple_nodes(void);
/* Loads libnuma.so.1 with dlopen; 0 or -1. The calls below need it loaded. */
int zms_numa_load(void);
/* Number of nodes libnuma reports, or 0 when NUMA is unavailable. */
int zms_numa_node_count(void);
/* The node of a CPU, or 0 when unknown. */
int zms_numa_node_of_cpu(int cpu);
/* mbind(MPOL_PREFERRED) of [address, address+length) to node; 0 or -1 with errno. */
int zms_numa_prefer(void *address, size_t length, int node);

#endif
