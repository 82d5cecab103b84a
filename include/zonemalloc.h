/*
 * zonemalloc.h: the C API of libzonemalloc.so.
 *
 * The library exports the libc malloc family under its usual names (malloc, free,
 * calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc, malloc_usable_size, malloc_trim, malloc_stats, mallinfo, mallinfo2, malloc_info,
 * mallopt), with
 * glibc's semantics, so a program needs no source change: preload the library or
 * link it with -lzonemalloc. The same functions are also exported with the zm_
 * prefix declared here, together with zonemalloc's own introspection and control API.
 *
 * Environment variables (see docs/CONFIGURATION.md for ranges and defaults):
 *   ZONEMALLOC_STATS=1            print a summary to stderr at exit (to the stderr the
 *                                 program had at load, even if it closes fd 2)
 *   ZONEMALLOC_STATS=/tmp/%p.txt  append the summary to a file instead (%p: the pid)
 *   ZONEMALLOC_STATS_FORMAT=json  the summary as one JSON object (default: text)
 *   ZONEMALLOC_STATS_PID=1234     only that process prints its summary at exit
 *   ZONEMALLOC_LIMIT=512M|auto    cap on the bytes held from the OS (auto: 90% of the cgroup's limit)
 *   ZONEMALLOC_LAZY_MAX=64M       lazily held big-block bytes before a purge
 *   ZONEMALLOC_RELEASE_DELAY=1000 ms after which idle cached memory is returned
 *   ZONEMALLOC_NUMA=auto|0|1      NUMA placement through libnuma
 *   ZONEMALLOC_BACKGROUND=1       a background thread returns idle memory
 *   ZONEMALLOC_GUARD_RATE=100000  guard about one allocation in N (0: off)
 *   ZONEMALLOC_GUARD_UNDERFLOW=0  guarded blocks after their guard page, not before it
 *   ZONEMALLOC_GUARD_SLOTS=256    guarded blocks alive at once (the quarantine's length)
 *   ZONEMALLOC_PROF=1             sampled heap profiler; profile written at exit
 *   ZONEMALLOC_PROF_RATE=512K     mean bytes allocated between two samples
 *   ZONEMALLOC_PROF_SIGNAL=USR2   a signal that writes a profile (file name plus .1, .2, ...)
 *   ZONEMALLOC_PROF_FILE=zonemalloc.%p.prof   where profiles go (%p: the pid)
 *   ZONEMALLOC_STATS_PAGE=1       publish the counters in /dev/shm/zonemalloc.<pid> for zm stats/top
 */
#ifndef ZONEMALLOC_H
#define ZONEMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZONEMALLOC_VERSION_STRING "0.1.0"

/* ---- The malloc family (glibc semantics) ----------------------------------------- */

/** Allocates size bytes, 16-byte aligned. malloc(0) returns a unique pointer.
 *  NULL with errno ENOMEM when the size is impossible or the memory limit is reached. */
void *zm_malloc(size_t size);
/** Releases a block. free(NULL) does nothing. An invalid pointer or a double free
 *  aborts with a one-line "zonemalloc: ..." message naming the pointer. */
void zm_free(void *ptr);
/** Zeroed n*size bytes; NULL and ENOMEM when the product overflows. */
void *zm_calloc(size_t n, size_t size);
/** glibc semantics: realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL.
 *  On failure the old block is untouched and NULL is returned with ENOMEM. */
void *zm_realloc(void *ptr, size_t size);
/** realloc(ptr, n*size) with overflow checking (NULL and ENOMEM on overflow). */
void *zm_reallocarray(void *ptr, size_t n, size_t size);
/** Returns 0, EINVAL (alignment not a power of two multiple of sizeof(void*)) or
 *  ENOMEM (and then errno is ENOMEM too, as with glibc). */
int zm_posix_memalign(void **out, size_t alignment, size_t size);
/** C11 aligned allocation: NULL with EINVAL when alignment is not a power of two. */
void *zm_aligned_alloc(size_t alignment, size_t size);
/** Aligned allocation; a non-power-of-two alignment is rounded up, as glibc does. */
void *zm_memalign(size_t alignment, size_t size);
/** Page-aligned allocation. */
void *zm_valloc(size_t size);
/** Page-aligned allocation of size rounded up to whole pages (pvalloc(0) gives one page). */
void *zm_pvalloc(size_t size);
/** The usable size of a block, at least the size asked for; every byte of it may be
 *  written. 0 for NULL. */
size_t zm_malloc_usable_size(void *ptr);
/** Returns cached memory to the OS (like zm_purge). Returns 1 if memory was released. */
int zm_malloc_trim(size_t pad);
/** Prints the statistics summary to stderr (as glibc's malloc_stats does). */
void zm_malloc_stats(void);
/** Accepts glibc's parameters and returns 1; zonemalloc tunes itself through
 *  ZONEMALLOC_* variables, so the values only change nothing. */
int zm_mallopt(int param, int value);

/* mallinfo, mallinfo2 and malloc_info are declared in <malloc.h>; zonemalloc exports them
 * with glibc's layouts: arena = bytes held from the OS, uordblks = bytes allocated,
 * fordblks = held but free, hblks/hblkhd = live big blocks and their bytes, keepcost =
 * bytes cached for reuse; malloc_info writes the same figures as glibc's XML. */

/* ---- Statistics ------------------------------------------------------------------ */

#define ZM_STATS_VERSION 3

/** A snapshot of the allocator's counters. Per-thread counters are summed when read,
 *  so the event totals are exact once the threads that did the work have stopped. */
typedef struct zm_stats {
  uint64_t version;            /* ZM_STATS_VERSION */

  /* Bytes. allocated <= active <= mapped. */
  uint64_t allocated;          /* handed to the program and not yet freed (class/page rounded) */
  uint64_t active;             /* in slabs with a live chunk, plus live big blocks */
  uint64_t mapped;             /* held from the OS: mapped and not purged (includes caches) */
  uint64_t lazy_cached;        /* freed big blocks waiting in the lazy unmap cache */
  uint64_t slab_cached;        /* empty slabs kept for reuse (depots and thread caches) */

  /* Events on every size. */
  uint64_t malloc_count;       /* blocks handed out by any allocation call */
  uint64_t free_count;         /* blocks taken back by free or realloc */
  uint64_t remote_frees;       /* chunks freed by a thread other than their slab's owner (a guarded block's: its allocator) */
  uint64_t owner_signals;      /* full slabs pushed back to their owner (the IPI analog) */

  /* Big blocks and the lazy unmap batcher. */
  uint64_t big_allocs;         /* big blocks handed out */
  uint64_t big_reuses;         /* ... of which came from the lazy cache */
  uint64_t mmap_calls;
  uint64_t munmap_calls;
  uint64_t mremap_calls;
  uint64_t purges;             /* purge passes of the lazy cache */
  uint64_t purge_max_step_ns;  /* longest single purge step (one bounded batch) */
  uint64_t realloc_copied_bytes; /* bytes memcpy'd by realloc (mremap moves copy none) */

  /* Threads and slabs. */
  uint64_t threads_live;       /* thread zones in use */
  uint64_t zones_created;
  uint64_t zone_teardowns;
  uint64_t orphan_slabs;       /* partly used slabs of exited threads, not yet adopted */
  uint64_t slabs_adopted;
  uint64_t slabs_released;     /* empty slabs whose memory was returned to the OS */

  /* Memory limit. */
  uint64_t limit;              /* 0 = none */
  uint64_t limit_reclaims;     /* reclaim passes run when the limit refused a charge */
  uint64_t limit_refusals;     /* allocations refused with ENOMEM because of the limit */

  /* NUMA. */
  uint64_t numa_nodes;         /* nodes seen by libnuma (1 on a single-node machine) */
  uint64_t numa_enabled;       /* 1 when fresh memory is bound to the thread's node */

  /* Peaks (added in version 2). */
  uint64_t peak_allocated;     /* the largest `allocated` noted (each snapshot notes its own) */
  uint64_t peak_mapped;        /* the largest `mapped` since start */

  /* Guarded sampling (added in version 2; see ZONEMALLOC_GUARD_RATE). */
  uint64_t guarded_allocs;     /* blocks placed against a guard page */
  uint64_t guarded_frees;      /* ... and freed */

  /* Transparent huge pages (added in version 3; see ZONEMALLOC_THP). */
  uint64_t huge_bytes;         /* anonymous memory on huge pages (AnonHugePages of /proc/self/smaps_rollup) */
  uint64_t huge_share_permille; /* ... as per mille of the process's anonymous memory */
  uint64_t huge_splits;        /* huge pages split by returning part of one while the rest was in use */
} zm_stats_t;

/** Fills *out with a snapshot. */
void zm_stats(zm_stats_t *out);
/** Prints the summary of zm_stats to stderr (as JSON with ZONEMALLOC_STATS_FORMAT=json). */
void zm_stats_print(void);

/* ---- Control --------------------------------------------------------------------- */

/** Returns cached memory to the OS now: the lazy big-block cache, empty slabs in the
 *  depots and the calling thread's cached empty slabs. Returns the bytes released. */
size_t zm_purge(void);
/** Sets the cap on bytes held from the OS (0 removes it). At 90% of the cap caches are
 *  reclaimed; past it, allocations fail with ENOMEM. Returns 0, or EINVAL for a
 *  non-zero cap below 1 MiB. A cap below the current use is allowed: allocation fails
 *  until enough is freed. */
int zm_set_limit(size_t bytes);
/** Writes the heap profile (ZONEMALLOC_PROF=1) to path, or to ZONEMALLOC_PROF_FILE's
 *  path when path is NULL. Returns 0, ENOTSUP when profiling is off, or the errno of
 *  open or write. `zm prof` reads the file (format: docs/DESIGN.md). */
int zm_prof_dump(const char *path);
/** 1 if ptr is the start of a live block that zonemalloc handed out, else 0. */
int zm_owns(const void *ptr);
/** The NUMA node that ptr's memory was placed on by zonemalloc's policy, or -1 when
 *  no policy applies (NUMA off) or ptr is not zonemalloc's. */
int zm_numa_node_of(const void *ptr);
/** The library version, for example "0.1.0". */
const char *zm_version(void);

#ifdef __cplusplus
}
#endif

#endif /* ZONEMALLOC_H */
