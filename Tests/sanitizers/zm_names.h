/*
 * zm_names.h: routes a test program's malloc family to zonemalloc's zm_* names.
 *
 * Forced in front of a stress program (-include) when it is built with AddressSanitizer:
 * ASan's runtime owns the names malloc, free, calloc, ... in the executable, so without
 * this the program would test ASan's allocator. With it, the program's blocks come from
 * libzonemalloc.so and ASan checks the program's other memory (stack, globals, libc's
 * blocks); ASan knows nothing of zonemalloc's blocks (no redzones), so the programs'
 * own pattern checks remain what finds a wrong block.
 */
#ifndef ZM_NAMES_H
#define ZM_NAMES_H
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include "zonemalloc.h"
#define malloc zm_malloc
#define free zm_free
#define calloc zm_calloc
#define realloc zm_realloc
#define reallocarray zm_reallocarray
#define posix_memalign zm_posix_memalign
#define aligned_alloc zm_aligned_alloc
#define memalign zm_memalign
#define valloc zm_valloc
#define pvalloc zm_pvalloc
#define malloc_usable_size zm_malloc_usable_size
#endif
