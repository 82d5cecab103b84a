/*
 * preload_probe.c: proves that LD_PRELOAD really put zonemalloc in front of glibc.
 * Built without -lzonemalloc and run under LD_PRELOAD: it must find zm_version through
 * dlsym(RTLD_DEFAULT), see that "malloc" resolves to zm_malloc, that every other name of
 * the family resolves into the same object as zm_malloc, and that a block from the
 * plain malloc() call is owned by zonemalloc.
 *
 * Prints "preload active VERSION" and exits 0, or names what is wrong and exits 1.
 */
#include "common.h"
#include <dlfcn.h>

static const char *family[] = {"free", "calloc", "realloc", "reallocarray", "posix_memalign",
                               "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
                               "malloc_trim", "malloc_stats", "mallinfo", "mallinfo2", "malloc_info", "mallopt"};

static const char *object_of(void *sym) {
  Dl_info info;
  return sym && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "(none)";
}

int main(void) {
  const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "zm_version");
  void *zm_malloc = dlsym(RTLD_DEFAULT, "zm_malloc"), *plain = dlsym(RTLD_DEFAULT, "malloc");
  int (*owns)(const void *) = (int (*)(const void *))dlsym(RTLD_DEFAULT, "zm_owns");
  if (!version || !zm_malloc || !owns) ZT_FAIL("zm_version, zm_malloc or zm_owns not found: no zonemalloc in the process");
  if (plain != zm_malloc) ZT_FAIL("malloc resolves to %s, not to zm_malloc", object_of(plain));
  const char *home = object_of(zm_malloc);
  int wrong = 0;
  for (size_t i = 0; i < sizeof family / sizeof *family; i++) {
    const char *where = object_of(dlsym(RTLD_DEFAULT, family[i]));
    if (strcmp(where, home) != 0) {
      fprintf(stderr, "FAIL %s resolves to %s, not %s\n", family[i], where, home);
      wrong++;
    }
  }
  void *p = malloc(100);
  if (!owns(p)) ZT_FAIL("malloc(100) = %p is not owned by zonemalloc", p);
  free(p);
  if (wrong) return 1;
  printf("preload active %s\n", version());
  return 0;
}
