/*
 * atfork_alloc_lib.c: a shared library, linked by fork_atfork.c (not preloaded), whose
 * pthread_atfork handlers allocate (issue 11, case 2). Its constructor registers the
 * handlers; a library the program links is initialised before a preloaded allocator, so
 * these handlers are registered first: an allocator's prepare handler registered later
 * runs before them, and its child handler after them.
 *
 * ATFORK_ALLOC=all (default): prepare, parent and child handlers each malloc and free.
 * ATFORK_ALLOC=child: only the child handler does.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int all_handlers = 1;

static void churn(void) {
  void *p = malloc(64), *q = malloc(5000), *r = malloc(100000);
  if (!p || !q || !r) abort();
  memset(p, 1, 64);
  free(r);
  free(q);
  free(p);
}

static void prepare(void) { if (all_handlers) churn(); }
static void parent(void) { if (all_handlers) churn(); }
static void child(void) { churn(); }

__attribute__((constructor)) static void register_handlers(void) {
  const char *mode = getenv("ATFORK_ALLOC");
  all_handlers = !(mode && strcmp(mode, "child") == 0);
  pthread_atfork(prepare, parent, child);
}

/* Called by the program, so that the linker keeps the library. */
int atfork_alloc_linked(void) { return all_handlers; }
