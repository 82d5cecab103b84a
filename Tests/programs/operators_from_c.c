/*
 * operators_from_c.c: the C++ operators of libzonemalloc.so called from a C program linked
 * with -lzonemalloc, in which libstdc++ is not loaded: what a program built against
 * another C++ runtime (libc++) gets when an allocation fails.
 *
 * Usage: operators_from_c CHECK
 *   roundtrip  new/delete forms work and hand out zonemalloc blocks: prints "ok roundtrip"
 *   nothrow    the nothrow forms of an impossible size return NULL: prints "ok nothrow"
 *   throwing   operator new of an impossible size cannot throw without libstdc++: it
 *              writes "zonemalloc: operator new: out of memory" and aborts
 */
#include "common.h"
#include "zonemalloc.h"

#include <dlfcn.h>

/* The mangled names, declared as the plain C functions they are to the linker. */
void *_Znwm(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag);
void *_ZnamRKSt9nothrow_t(size_t size, const void *tag);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *tag);
void *_ZnamSt11align_val_t(size_t size, size_t alignment);
void _ZdlPvm(void *p, size_t size);
void _ZdaPvSt11align_val_t(void *p, size_t alignment);

static const char nothrow_tag = 0;

static void roundtrip(void) {
  void *p = _Znwm(100);
  ZT_CHECK(p && zm_owns(p), "_Znwm(100) = %p", p);
  _ZdlPvm(p, 100);
  ZT_CHECK(!zm_owns(p), "%p live after sized delete", p);
  p = _ZnamSt11align_val_t(1000, 4096);
  ZT_CHECK(p && zm_owns(p) && ((uintptr_t)p & 4095) == 0, "aligned new[] = %p", p);
  _ZdaPvSt11align_val_t(p, 4096);
}

static void nothrow(void) {
  size_t impossible = SIZE_MAX / 2;
  ZT_CHECK(_ZnwmRKSt9nothrow_t(impossible, &nothrow_tag) == NULL, "nothrow new");
  ZT_CHECK(_ZnamRKSt9nothrow_t(impossible, &nothrow_tag) == NULL, "nothrow new[]");
  ZT_CHECK(_ZnwmSt11align_val_tRKSt9nothrow_t(impossible, 64, &nothrow_tag) == NULL, "aligned nothrow new");
}

static void throwing(void) {
  void *p = _Znwm(SIZE_MAX / 2);
  ZT_FAIL("_Znwm(SIZE_MAX/2) returned %p", p);
}

int main(int argc, char **argv) {
  if (argc != 2) ZT_FAIL("usage: operators_from_c roundtrip|nothrow|throwing");
  if (dlopen("libstdc++.so.6", RTLD_NOLOAD | RTLD_LAZY) != NULL) ZT_FAIL("libstdc++ is loaded");
  if (strcmp(argv[1], "roundtrip") == 0) roundtrip();
  else if (strcmp(argv[1], "nothrow") == 0) nothrow();
  else if (strcmp(argv[1], "throwing") == 0) throwing();
  else ZT_FAIL("unknown check %s", argv[1]);
  if (zt_failures) return 1;
  printf("ok %s\n", argv[1]);
  return 0;
}
