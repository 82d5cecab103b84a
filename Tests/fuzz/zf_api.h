/*
 * zf_api.h: the API under test, as the fuzzer calls it.
 *
 * Owns: a table of function pointers to every allocation entry point of libzonemalloc.so
 * (the libc names, the zm_* introspection and control calls, the C++ operators by their
 * mangled names), looked up with dlsym in the library itself. Going through the table,
 * and not through the names, means the same harness tests zonemalloc when it is built
 * with AddressSanitizer (whose runtime owns the names malloc, free and operator new in
 * the executable), and lets the planted-bug variant (planted_realloc.c) put a wrapper in
 * front of one entry.
 */
#ifndef ZF_API_H
#define ZF_API_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "zonemalloc.h"

/* How a block was made, which decides how it must be released. */
enum zf_kind { ZF_MALLOC, ZF_NEW, ZF_NEW_ARRAY, ZF_NEW_ALIGNED, ZF_NEW_ARRAY_ALIGNED, ZF_KINDS };

typedef struct {
  void *(*malloc)(size_t);
  void *(*calloc)(size_t, size_t);
  void *(*realloc)(void *, size_t);
  void *(*reallocarray)(void *, size_t, size_t);
  void (*free)(void *);
  void (*free_sized)(void *, size_t); /* C23; NULL when the library does not export it */
  void *(*aligned_alloc)(size_t, size_t);
  int (*posix_memalign)(void **, size_t, size_t);
  void *(*memalign)(size_t, size_t);
  void *(*valloc)(size_t);
  void *(*pvalloc)(size_t);
  size_t (*malloc_usable_size)(void *);
  int (*malloc_trim)(size_t);
  void (*stats)(zm_stats_t *);
  size_t (*purge)(void);
  int (*set_limit)(size_t);
  int (*owns)(const void *);
  /* operator new: [kind] plain (throwing) and nothrow; the aligned kinds take an alignment. */
  void *(*new_plain[ZF_KINDS])(size_t);
  void *(*new_nothrow[ZF_KINDS])(size_t, const void *);
  void *(*new_aligned[ZF_KINDS])(size_t, size_t);
  void *(*new_aligned_nothrow[ZF_KINDS])(size_t, size_t, const void *);
  /* operator delete: [kind][0 plain, 1 sized, 2 nothrow]. The aligned kinds' deleters take
   * the alignment as their last argument but one (plain, nothrow) or last (sized). */
  void *delete[ZF_KINDS][3];
} zf_api_t;

static zf_api_t zf;

static void *zf_symbol(void *library, const char *name, int required) {
  void *f = dlsym(library, name);
  if (!f && required) {
    fprintf(stderr, "zf: libzonemalloc.so does not export %s\n", name);
    abort();
  }
  return f;
}

/* Fills zf from the loaded libzonemalloc.so.0 (the harness is linked against it). */
static void zf_api_load(void) {
  void *lib = dlopen("libzonemalloc.so.0", RTLD_NOW | RTLD_NOLOAD);
  if (!lib) {
    fprintf(stderr, "zf: libzonemalloc.so.0 is not loaded: %s\n", dlerror());
    abort();
  }
#define ZF_LOAD(field, name) *(void **)&zf.field = zf_symbol(lib, name, 1)
  ZF_LOAD(malloc, "malloc");
  ZF_LOAD(calloc, "calloc");
  ZF_LOAD(realloc, "realloc");
  ZF_LOAD(reallocarray, "reallocarray");
  ZF_LOAD(free, "free");
  ZF_LOAD(aligned_alloc, "aligned_alloc");
  ZF_LOAD(posix_memalign, "posix_memalign");
  ZF_LOAD(memalign, "memalign");
  ZF_LOAD(valloc, "valloc");
  ZF_LOAD(pvalloc, "pvalloc");
  ZF_LOAD(malloc_usable_size, "malloc_usable_size");
  ZF_LOAD(malloc_trim, "malloc_trim");
  ZF_LOAD(stats, "zm_stats");
  ZF_LOAD(purge, "zm_purge");
  ZF_LOAD(set_limit, "zm_set_limit");
  ZF_LOAD(owns, "zm_owns");
  ZF_LOAD(new_plain[ZF_NEW], "_Znwm");
  ZF_LOAD(new_plain[ZF_NEW_ARRAY], "_Znam");
  ZF_LOAD(new_nothrow[ZF_NEW], "_ZnwmRKSt9nothrow_t");
  ZF_LOAD(new_nothrow[ZF_NEW_ARRAY], "_ZnamRKSt9nothrow_t");
  ZF_LOAD(new_aligned[ZF_NEW_ALIGNED], "_ZnwmSt11align_val_t");
  ZF_LOAD(new_aligned[ZF_NEW_ARRAY_ALIGNED], "_ZnamSt11align_val_t");
  ZF_LOAD(new_aligned_nothrow[ZF_NEW_ALIGNED], "_ZnwmSt11align_val_tRKSt9nothrow_t");
  ZF_LOAD(new_aligned_nothrow[ZF_NEW_ARRAY_ALIGNED], "_ZnamSt11align_val_tRKSt9nothrow_t");
  static const char *const deleters[ZF_KINDS][3] = {
    [ZF_MALLOC] = {"free", "free", "free"},
    [ZF_NEW] = {"_ZdlPv", "_ZdlPvm", "_ZdlPvRKSt9nothrow_t"},
    [ZF_NEW_ARRAY] = {"_ZdaPv", "_ZdaPvm", "_ZdaPvRKSt9nothrow_t"},
    [ZF_NEW_ALIGNED] = {"_ZdlPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdlPvSt11align_val_tRKSt9nothrow_t"},
    [ZF_NEW_ARRAY_ALIGNED] = {"_ZdaPvSt11align_val_t", "_ZdaPvmSt11align_val_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t"},
  };
  for (int k = 0; k < ZF_KINDS; k++)
    for (int d = 0; d < 3; d++) zf.delete[k][d] = zf_symbol(lib, deleters[k][d], 1);
  *(void **)&zf.free_sized = zf_symbol(lib, "free_sized", 0);
#undef ZF_LOAD
}

/* Releases a block made as `kind` of `size` bytes (alignment `align`), with deleter `how`
 * (0 plain, 1 sized, 2 nothrow; for malloc blocks 1 is free_sized when exported). */
static void zf_release(int kind, int how, void *p, size_t size, size_t align) {
  static const char nothrow_tag = 0;
  void *d = zf.delete[kind][how % 3];
  switch (kind) {
  case ZF_MALLOC:
    if (how % 3 == 1 && zf.free_sized) zf.free_sized(p, size);
    else zf.free(p);
    break;
  case ZF_NEW:
  case ZF_NEW_ARRAY:
    if (how % 3 == 0) ((void (*)(void *))d)(p);
    else if (how % 3 == 1) ((void (*)(void *, size_t))d)(p, size);
    else ((void (*)(void *, const void *))d)(p, &nothrow_tag);
    break;
  default:
    if (how % 3 == 0) ((void (*)(void *, size_t))d)(p, align);
    else if (how % 3 == 1) ((void (*)(void *, size_t, size_t))d)(p, size, align);
    else ((void (*)(void *, size_t, const void *))d)(p, align, &nothrow_tag);
    break;
  }
}

#endif
