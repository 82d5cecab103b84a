/*
 * Backtrace.c: stacks of return addresses, without allocating, for the sampled features
 * (the heap profiler and the guarded slots). Symbols.c names them.
 *
 * A stack has two parts, walked two ways:
 *  - the allocator's own frames, from here up to the exported function the program
 *    called. Embedded Swift emits no unwind tables, but every function of this library
 *    that makes a call keeps a frame pointer (built with -fno-omit-frame-pointer, and
 *    ExportTests checks the disassembly), so they are followed by rbp. They are not
 *    recorded: the stack starts at the program's call into the allocator.
 *  - the program's frames, which need no frame pointers: each step uses a rule read
 *    from the program's DWARF call frame information and cached per return address
 *    (FrameRules.c), so after the first sample from a place a step is a table lookup
 *    and two loads. libgcc's _Unwind_Backtrace costs far more per frame (it decodes
 *    the FDE again each time), which at one sample per 512 KiB showed in the benchmarks.
 * libgcc_s is loaded with dlopen by zms_backtrace_setup, only for its FDE lookup
 * (_Unwind_Find_FDE), and only when a sampled feature is on: dlopen allocates, and a
 * host program that samples nothing never loads it. The walk itself allocates nothing
 * in the usual case; the caller keeps its own allocations from being sampled while it
 * walks, so a rare allocation inside the FDE lookup cannot recurse.
 * The stack of code a signal interrupted (the guarded slots' faulting access) is walked
 * the same way from the registers in the signal's context, starting at the faulting pc.
 * A rule not cached yet is then computed inside the handler: libgcc's FDE lookup finds
 * the object with glibc's _dl_find_object (glibc 2.35 on), which takes no lock and is
 * async-signal-safe; only FDEs registered at run time (__register_frame_info, JITs) go
 * through libgcc's own mutex.
 * x86-64 and AArch64 (elsewhere there are no stacks). On x86-64 the call's return address
 * and the caller's rbp sit just below the CFA, so the outermost own frame record gives
 * the program's rsp too. On AArch64 a frame record (x29, x30) need not be at the top of
 * its frame, so the program's sp is that frame's CFA, from its own CFI rule: the cross
 * build (scripts/cross-aarch64.sh) gives the Swift code .eh_frame for this.
 */
#include "FrameRules.h"
#include <dlfcn.h>
#include <link.h>

static uintptr_t own_start, own_end; /* this library's executable segment; own_end published last */

static int find_own_text(struct dl_phdr_info *info, size_t size, void *argument) {
  (void)size;
  uintptr_t *extent = argument, here = (uintptr_t)&zms_backtrace;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *h = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + h->p_vaddr;
    if (h->p_type == PT_LOAD && (h->p_flags & PF_X) && here >= start && here < start + h->p_memsz) {
      extent[0] = start;
      extent[1] = start + h->p_memsz;
      return 1;
    }
  }
  return 0;
}

/* own_end is stored last, with release: a walker that reads it (acquire) sees own_start
 * and the FDE lookup too (a weakly ordered CPU could show them late otherwise). */
int zms_backtrace_setup(void) {
  if (__atomic_load_n(&own_end, __ATOMIC_ACQUIRE)) return 0;
  void *lib = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
  void *find = lib ? dlsym(lib, "_Unwind_Find_FDE") : NULL;
  uintptr_t extent[2];
  if (!find || !dl_iterate_phdr(find_own_text, extent)) return -1;
  zms_frame_rules_setup(find);
  own_start = extent[0];
  __atomic_store_n(&own_end, extent[1], __ATOMIC_RELEASE);
  return 0;
}

static int is_own(uintptr_t pc) { return pc - own_start < own_end - own_start; }

int zms_backtrace(uintptr_t *out, int max) {
  if (!__atomic_load_n(&own_end, __ATOMIC_ACQUIRE) || max <= 0) return 0;
  /* The allocator's frames: rbp (x29) points at (caller's rbp, return address). A chain
   * that does not climb the stack, or runs longer than the allocator ever nests, is no
   * chain. */
  const uintptr_t *fp = __builtin_frame_address(0);
#if defined(__aarch64__)
  uintptr_t inner = 0; /* a return address into the frame at fp, once fp is a caller's */
  for (int depth = 0; is_own(zms_strip_return_address(fp[1])); depth++) {
    const uintptr_t *caller = (const uintptr_t *)fp[0];
    if (depth == 64 || caller <= fp || ((uintptr_t)caller & 7)) return 0;
    inner = zms_strip_return_address(fp[1]);
    fp = caller;
  }
  /* The outermost own frame's rule finds its CFA, the program's sp; without it (no
   * unwind table) the stack is the return address alone. */
  struct zms_frame frame = {inner, (uintptr_t)fp, (uintptr_t)fp, 0};
  if (!inner || !zms_frame_step(&frame) || frame.pc != zms_strip_return_address(fp[1]) || frame.fp != fp[0]) {
    out[0] = zms_strip_return_address(fp[1]);
    return out[0] > 4096;
  }
#else
  for (int depth = 0; is_own(fp[1]); depth++) {
    const uintptr_t *caller = (const uintptr_t *)fp[0];
    if (depth == 64 || caller <= fp || ((uintptr_t)caller & 7)) return 0;
    fp = caller;
  }
  struct zms_frame frame = {fp[1], (uintptr_t)(fp + 2), fp[0], 0};
#endif
  int count = 0;
  while (count < max && frame.pc > 4096) {
    out[count++] = frame.pc;
    if (!zms_frame_step(&frame)) break;
  }
  return count;
}

uintptr_t zms_text_address(void) { return (uintptr_t)&zms_backtrace; }

/* The interrupted code's stack from a signal's context: its pc first (the instruction
 * itself, not a return address), then the return addresses found by stepping from its
 * registers. The first step uses the rule at the pc itself: a rule is looked up for the
 * instruction before the address it is given. */
int zms_backtrace_of_signal(const void *context, uintptr_t *out, int max) {
  if (!__atomic_load_n(&own_end, __ATOMIC_ACQUIRE) || max <= 0 || !context) return 0;
  const ucontext_t *uc = context;
#if defined(__x86_64__)
  const greg_t *r = uc->uc_mcontext.gregs;
  struct zms_frame frame = {(uintptr_t)r[REG_RIP], (uintptr_t)r[REG_RSP], (uintptr_t)r[REG_RBP], 0};
#elif defined(__aarch64__)
  struct zms_frame frame = {uc->uc_mcontext.pc, uc->uc_mcontext.sp, uc->uc_mcontext.regs[29],
                            zms_strip_return_address(uc->uc_mcontext.regs[30])};
#else
  struct zms_frame frame = {0, 0, 0, 0};
  (void)uc;
#endif
  if (frame.pc <= 4096) return 0;
  int count = 0;
  out[count++] = frame.pc;
  frame.pc += 1;
  while (count < max && zms_frame_step(&frame)) out[count++] = frame.pc;
  return count;
}
