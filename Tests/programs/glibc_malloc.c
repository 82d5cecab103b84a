/* glibc_malloc.c: a preload that routes the malloc family to glibc's own, ahead of a
 * library the program links (Debian's redis-server links jemalloc): the glibc reference
 * of the redis test (ReleaseWithoutHelpTests). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
extern void *__libc_malloc(size_t), *__libc_calloc(size_t, size_t), *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
void *malloc(size_t n) { return __libc_malloc(n); }
void free(void *p) { __libc_free(p); }
void *calloc(size_t a, size_t b) { return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) { void *p = __libc_memalign(a, n); if (!p) return 12; *out = p; return 0; }
size_t malloc_usable_size(void *p) {
  static size_t (*real)(void *);
  if (!real) real = (size_t (*)(void *))dlsym(dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD), "malloc_usable_size");
  return real(p);
}
