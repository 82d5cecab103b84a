/* fibers.c: ZoneProtocolFibers.h. A fiber starts through makecontext/setcontext (once per
 * run) and switches with _setjmp/_longjmp afterwards, which, unlike swapcontext, does not
 * save the signal mask with a system call. */
#include "ZoneProtocolFibers.h"
#include <setjmp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

struct zpf_fiber {
  jmp_buf fiber_env;   /* where the fiber stopped in zpf_yield */
  jmp_buf caller_env;  /* where zpf_resume waits */
  ucontext_t start;
  void *stack;
  size_t stack_bytes;
  void (*entry)(void *);
  void *arg;
  int started, finished;
};

static zpf_fiber *running;

zpf_fiber *zpf_create(size_t stack_bytes) {
  zpf_fiber *fiber = calloc(1, sizeof *fiber);
  if (!fiber) return NULL;
  fiber->stack = mmap(NULL, stack_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fiber->stack == MAP_FAILED) {
    free(fiber);
    return NULL;
  }
  fiber->stack_bytes = stack_bytes;
  return fiber;
}

static void trampoline(void) {
  zpf_fiber *fiber = running;
  fiber->entry(fiber->arg);
  zpf_exit();
}

void zpf_reset(zpf_fiber *fiber, void (*entry)(void *), void *arg) {
  fiber->entry = entry;
  fiber->arg = arg;
  fiber->started = 0;
  fiber->finished = 0;
}

int zpf_resume(zpf_fiber *fiber) {
  if (fiber->finished) return 1;
  zpf_fiber *previous = running;
  running = fiber;
  if (!_setjmp(fiber->caller_env)) {
    if (fiber->started) _longjmp(fiber->fiber_env, 1);
    fiber->started = 1;
    getcontext(&fiber->start);
    fiber->start.uc_stack.ss_sp = fiber->stack;
    fiber->start.uc_stack.ss_size = fiber->stack_bytes;
    fiber->start.uc_link = NULL;
    makecontext(&fiber->start, trampoline, 0);
    setcontext(&fiber->start);
  }
  running = previous;
  return fiber->finished;
}

void zpf_yield(void) {
  zpf_fiber *fiber = running;
  if (!_setjmp(fiber->fiber_env)) _longjmp(fiber->caller_env, 1);
}

void zpf_exit(void) {
  zpf_fiber *fiber = running;
  fiber->finished = 1;
  _longjmp(fiber->caller_env, 1);
}
