/*
 * Operators.c: the C++ operators new and delete, by their mangled names, for C++ programs
 * that load libzonemalloc.so (preloaded or linked). Written in C: the library must not
 * link libstdc++, since it is preloaded into C programs too.
 *
 * Owns: every replaceable global operator new and delete of C++17 on LP64: new and new[]
 * (plain, nothrow, aligned, aligned nothrow) and delete and delete[] (plain, sized,
 * nothrow, aligned, sized aligned, aligned nothrow). They call the zm_* functions.
 * Sized delete frees like free(): the size is not used, so a program that passes the size
 * it asked for rather than the usable size is right too.
 *
 * When an allocation fails, the operator hands the request to libstdc++'s own definition
 * of the same operator, found with dlopen(RTLD_NOLOAD) and dlsym in libstdc++.so.6 itself
 * (not RTLD_NEXT: whether libstdc++ comes after this library depends on link order).
 * That definition retries malloc (this library's), runs the new_handler and throws
 * std::bad_alloc, or returns nullptr for the nothrow forms. Without libstdc++ (a program
 * built with libc++), a nothrow form returns NULL, and a throwing one writes one line and
 * aborts, as there is no way to throw from C.
 * Touches: zm_malloc, zm_aligned_alloc, zm_free; dlopen/dlsym on the failure path only.
 */
#include "ZoneExports.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

void *zm_malloc(size_t size);
void *zm_aligned_alloc(size_t alignment, size_t size);
void zm_free(void *ptr);

/* std::nothrow_t const& and std::align_val_t, as the ABI passes them. */
typedef const void *nothrow_ref;
typedef size_t align_val;

/* libstdc++'s definition of the operator named `name`, or NULL if it is not loaded. */
static void *libstdcxx(const char *name) {
  void *library = dlopen("libstdc++.so.6", RTLD_NOLOAD | RTLD_LAZY);
  if (library == NULL) return NULL;
  void *function = dlsym(library, name);
  dlclose(library); /* drops only the reference RTLD_NOLOAD took */
  return function;
}

__attribute__((noreturn, cold)) static void out_of_memory(void) {
  static const char message[] = "zonemalloc: operator new: out of memory\n";
  (void)!write(2, message, sizeof message - 1);
  abort();
}

/* The throwing forms, after zm_* failed. */
__attribute__((noinline)) static void *failed(const char *name, size_t size) {
  void *(*retry)(size_t) = (void *(*)(size_t))libstdcxx(name);
  if (retry == NULL) out_of_memory();
  return retry(size);
}

/* libstdc++ 12's aligned operators round the size up to the alignment without checking
 * for overflow, so SIZE_MAX would become a zero-byte request: hand them the largest size
 * that still rounds to an impossible one. */
static size_t impossible_stays_impossible(size_t size, align_val alignment) {
  return alignment != 0 && size > SIZE_MAX - alignment + 1 ? SIZE_MAX - alignment + 1 : size;
}

__attribute__((noinline)) static void *failed_aligned(const char *name, size_t size, align_val alignment) {
  void *(*retry)(size_t, align_val) = (void *(*)(size_t, align_val))libstdcxx(name);
  if (retry == NULL) out_of_memory();
  return retry(impossible_stays_impossible(size, alignment), alignment);
}

/* The nothrow forms, after zm_* failed. */
__attribute__((noinline)) static void *failed_nothrow(const char *name, size_t size, nothrow_ref tag) {
  void *(*retry)(size_t, nothrow_ref) = (void *(*)(size_t, nothrow_ref))libstdcxx(name);
  return retry ? retry(size, tag) : NULL;
}

__attribute__((noinline)) static void *failed_aligned_nothrow(const char *name, size_t size, align_val alignment,
                                                             nothrow_ref tag) {
  void *(*retry)(size_t, align_val, nothrow_ref) = (void *(*)(size_t, align_val, nothrow_ref))libstdcxx(name);
  return retry ? retry(impossible_stays_impossible(size, alignment), alignment, tag) : NULL;
}

/* The operators are defined by a macro per form, once for new and once for new[]. */
#define NEW(name)                                                                     \
  void *name(size_t size) {                                                           \
    void *p = zm_malloc(size);                                                        \
    return __builtin_expect(p != NULL, 1) ? p : failed(#name, size);                  \
  }
#define NEW_NOTHROW(name)                                                             \
  void *name(size_t size, nothrow_ref tag) {                                          \
    void *p = zm_malloc(size);                                                        \
    return __builtin_expect(p != NULL, 1) ? p : failed_nothrow(#name, size, tag);     \
  }
#define NEW_ALIGNED(name)                                                             \
  void *name(size_t size, align_val alignment) {                                      \
    void *p = zm_aligned_alloc(alignment, size);                                      \
    return p ? p : failed_aligned(#name, size, alignment);                            \
  }
#define NEW_ALIGNED_NOTHROW(name)                                                     \
  void *name(size_t size, align_val alignment, nothrow_ref tag) {                     \
    void *p = zm_aligned_alloc(alignment, size);                                      \
    return p ? p : failed_aligned_nothrow(#name, size, alignment, tag);               \
  }

NEW(_Znwm)                                    /* operator new(size_t) */
NEW(_Znam)                                    /* operator new[](size_t) */
NEW_NOTHROW(_ZnwmRKSt9nothrow_t)              /* operator new(size_t, nothrow_t const&) */
NEW_NOTHROW(_ZnamRKSt9nothrow_t)
NEW_ALIGNED(_ZnwmSt11align_val_t)             /* operator new(size_t, align_val_t) */
NEW_ALIGNED(_ZnamSt11align_val_t)
NEW_ALIGNED_NOTHROW(_ZnwmSt11align_val_tRKSt9nothrow_t)
NEW_ALIGNED_NOTHROW(_ZnamSt11align_val_tRKSt9nothrow_t)

void _ZdlPv(void *p) { zm_free(p); }                                       /* delete(void*) */
void _ZdaPv(void *p) { zm_free(p); }                                       /* delete[](void*) */
void _ZdlPvm(void *p, size_t size) { (void)size; zm_free(p); }             /* delete(void*, size_t) */
void _ZdaPvm(void *p, size_t size) { (void)size; zm_free(p); }
void _ZdlPvRKSt9nothrow_t(void *p, nothrow_ref tag) { (void)tag; zm_free(p); }
void _ZdaPvRKSt9nothrow_t(void *p, nothrow_ref tag) { (void)tag; zm_free(p); }
void _ZdlPvSt11align_val_t(void *p, align_val a) { (void)a; zm_free(p); }  /* delete(void*, align_val_t) */
void _ZdaPvSt11align_val_t(void *p, align_val a) { (void)a; zm_free(p); }
void _ZdlPvmSt11align_val_t(void *p, size_t size, align_val a) { (void)size; (void)a; zm_free(p); }
void _ZdaPvmSt11align_val_t(void *p, size_t size, align_val a) { (void)size; (void)a; zm_free(p); }
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, align_val a, nothrow_ref tag) { (void)a; (void)tag; zm_free(p); }
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, align_val a, nothrow_ref tag) { (void)a; (void)tag; zm_free(p); }
