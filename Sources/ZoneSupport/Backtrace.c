/*
 * Backtrace.c: stacks of return addresses, without allocating, for the sampled features
 * (the heap profiler and the guarded slots).
 *
 * It walks the stack with libgcc's DWARF unwinder (_Unwind_Backtrace), which needs no
 * frame pointers, so it works in host programs built without them. libgcc_s is loaded
 * with dlopen by zms_backtrace_setup, which the library constructor calls only when a
 * sampled feature is on: dlopen allocates, and a host program that samples nothing never
 * loads it. Unwinding itself allocates nothing in the usual case (it reads .eh_frame_hdr
 * through dl_iterate_phdr); the caller keeps its own allocations from being sampled
 * while it walks, so a rare allocation inside the unwinder cannot recurse.
 */
#include "ZoneSupport.h"
#include <dlfcn.h>
#include <unwind.h>

typedef _Unwind_Reason_Code (*zms_unwind_backtrace_fn)(_Unwind_Trace_Fn, void *);
typedef _Unwind_Ptr (*zms_unwind_getip_fn)(struct _Unwind_Context *);

static zms_unwind_backtrace_fn unwind_backtrace;
static zms_unwind_getip_fn unwind_getip;

int zms_backtrace_setup(void) {
  if (unwind_backtrace) return 0;
  void *lib = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return -1;
  zms_unwind_getip_fn getip = (zms_unwind_getip_fn)dlsym(lib, "_Unwind_GetIP");
  zms_unwind_backtrace_fn walk = (zms_unwind_backtrace_fn)dlsym(lib, "_Unwind_Backtrace");
  if (!getip || !walk) return -1;
  unwind_getip = getip;
  __atomic_store_n(&unwind_backtrace, walk, __ATOMIC_RELEASE);
  return 0;
}

struct zms_walk {
  uintptr_t *out;
  int max;
  int skip;
  int count;
};

static _Unwind_Reason_Code zms_walk_step(struct _Unwind_Context *context, void *argument) {
  struct zms_walk *walk = argument;
  uintptr_t ip = (uintptr_t)unwind_getip(context);
  if (ip == 0) return _URC_END_OF_STACK;
  if (walk->skip > 0) {
    walk->skip--;
    return _URC_NO_REASON;
  }
  walk->out[walk->count++] = ip;
  return walk->count < walk->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

int zms_backtrace(uintptr_t *out, int max, int skip) {
  zms_unwind_backtrace_fn walk_fn = __atomic_load_n(&unwind_backtrace, __ATOMIC_ACQUIRE);
  if (!walk_fn || max <= 0) return 0;
  struct zms_walk walk = {out, max, skip + 1, 0}; /* +1: this function's own frame */
  walk_fn(zms_walk_step, &walk);
  return walk.count;
}
