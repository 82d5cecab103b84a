/*
 * ZoneSupport: the few things Embedded Swift cannot spell, and no allocator policy.
 *
 *  - The thread slot: an initial-exec __thread pointer to the thread's zone, read through
 *    static inline accessors. It starts out pointing at a static *empty zone* whose
 *    per-class slab pointers all name a zero-filled *sentinel slab*, so the malloc fast
 *    path needs no "has this thread got a zone?" test: a sentinel never has a free chunk.
 *    A thread whose zone was torn down points at the *exited zone*, which looks the same
 *    to the fast paths but tells the slow paths not to create a zone for a late free.
 *  - Statically initialised locks (pthread mutexes need PTHREAD_MUTEX_INITIALIZER).
 *  - The region table: one byte per 4 GiB window of the address space saying whether the
 *    window is a zonemalloc slab arena (and of which NUMA node). free() consults it before
 *    it touches anything, which is how foreign pointers are recognised safely.
 *  - Wrappers for what is variadic or macro-only in libc (mremap, open, errno,
 *    MAP_FAILED), the background thread's wake-up (Wakeup.c), stack walks with cached
 *    rules from the program's unwind tables (Backtrace.c, FrameRules.c; libgcc's FDE
 *    lookup is loaded with dlopen) and the libnuma bridge (Numa.c, loaded with dlopen).
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
#include <fcntl.h>

/* The public API, so that Swift fills zm_stats_t from the one definition. */
#include "../../../include/zonemalloc.h"

/* ---- The thread slot ------------------------------------------------------------- */

#define ZMS_EMPTY_ZONE_WORDS 1024 /* 8 KiB: at least sizeof(Zone), checked at boot */
#define ZMS_CLASS_COUNT 64

extern __thread void *zms_zone_slot __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern void *zms_empty_zone[ZMS_EMPTY_ZONE_WORDS];
extern void *zms_exited_zone[ZMS_EMPTY_ZONE_WORDS];

static inline __attribute__((always_inline)) void *zms_zone(void) { return zms_zone_slot; }
static inline void zms_set_zone(void *zone) { zms_zone_slot = zone; }
static inline void *zms_empty_zone_address(void) { return (void *)zms_empty_zone; }
static inline void *zms_exited_zone_address(void) { return (void *)zms_exited_zone; }
static inline size_t zms_empty_zone_bytes(void) { return sizeof(zms_empty_zone); }

/* ---- The region table ------------------------------------------------------------ */

#define ZMS_REGION_SHIFT 32
#define ZMS_REGION_COUNT (1u << 15) /* 2^47 bytes of user address space / 4 GiB */

extern uint8_t zms_regions[ZMS_REGION_COUNT];

/* 0 if the address is not in a slab arena, else the arena's NUMA node + 1. Hot. */
static inline __attribute__((always_inline)) unsigned zms_region_of(uintptr_t address) {
  uintptr_t index = address >> ZMS_REGION_SHIFT;
  return index < ZMS_REGION_COUNT ? __atomic_load_n(&zms_regions[index], __ATOMIC_RELAXED) : 0;
}
static inline void zms_region_set(uintptr_t index, unsigned value) {
  __atomic_store_n(&zms_regions[index], (uint8_t)value, __ATOMIC_RELEASE);
}

/* ---- Locks ----------------------------------------------------------------------- */

enum {
  ZMS_LOCK_RECLAIM,    /* serializes limit reclaim passes */
  ZMS_LOCK_ZONES,      /* the zone pool and the live/dead zone lists */
  ZMS_LOCK_ORPHANS,    /* orphan slab lists */
  ZMS_LOCK_PURGE,      /* the lazy-unmap purger: a sleeping mutex, held across munmap */
  ZMS_LOCK_BIG,        /* big-block registry and lazy cache: short holds, no syscalls */
  ZMS_LOCK_BACKGROUND, /* starting the background thread */
  ZMS_LOCK_PROFILE,    /* the heap profiler's tables: a leaf, held across write(2) only */
  ZMS_GLOBAL_LOCKS
};
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

/* Re-creates every lock in a fork child (the parent's holders do not exist there). */
void zms_reinit_locks(void);

/* ---- libc wrappers --------------------------------------------------------------- */

static inline int zms_errno(void) { return errno; }
static inline void zms_set_errno(int value) { errno = value; }

/* mmap that answers NULL instead of MAP_FAILED. */
void *zms_mmap(void *hint, size_t length, int prot, int flags);
/* open(path, O_RDONLY | O_CLOEXEC): open is variadic. */
int zms_open_readonly(const char *path);
/* open(path, flags | O_CLOEXEC, mode), for files the library creates. */
int zms_open_create(const char *path, int flags, int mode);
/* sigaction(signal) with SA_RESTART and every other signal blocked in the handler. */
int zms_catch_signal(int signal, void (*handler)(int));
/* mremap(MREMAP_MAYMOVE); NULL on failure. */
void *zms_mremap(void *old_address, size_t old_length, size_t new_length);

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
 * into the allocator (the allocator's own frames are left out), skipping `skip` more.
 * 0 when the setup has not run. Allocates nothing. */
int zms_backtrace(uintptr_t *out, int max, int skip);
/* An address inside libzonemalloc's own code, so a reader of a profile can tell the
 * allocator's frames from the program's. */
uintptr_t zms_text_address(void);

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
