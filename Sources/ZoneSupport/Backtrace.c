/*
 * Backtrace.c: stacks of return addresses, without allocating, for the sampled features
 * (the heap profiler and the guarded slots), and their symbols through dladdr.
 *
 * The program's frames are walked with libgcc's DWARF unwinder (_Unwind_Backtrace),
 * which needs no frame pointers, so it works in host programs built without them.
 * libgcc_s is loaded with dlopen by zms_backtrace_setup, which the library constructor
 * calls only when a sampled feature is on: dlopen allocates, and a host program that
 * samples nothing never loads it. Unwinding itself allocates nothing in the usual case
 * (it reads .eh_frame_hdr through dl_iterate_phdr); the caller keeps its own
 * allocations from being sampled while it walks, so a rare allocation inside the
 * unwinder cannot recurse.
 *
 * The allocator's own frames have no unwind tables (Swift emits none for functions that
 * cannot throw), so the unwinder alone would stop at the first of them. They all keep
 * frame pointers (the package builds with -fno-omit-frame-pointer), so zms_backtrace
 * follows the frame-pointer chain through them, up to the first return address outside
 * the library, and starts the unwinder there: zms_unwind_from calls _Unwind_Backtrace
 * from a frame whose call-frame information names that program frame (its return
 * address, stack pointer and frame pointer) as its caller. That part is x86-64 only; on
 * other architectures a stack holds the allocator's frames alone.
 *
 * zms_symbolize names the function of a return address from the dynamic symbol tables
 * (dladdr: no allocation; functions of an executable need -rdynamic to be named).
 */
#include "ZoneSupport.h"
#include <dlfcn.h>
#include <link.h>
#include <unwind.h>

typedef _Unwind_Reason_Code (*zms_unwind_backtrace_fn)(_Unwind_Trace_Fn, void *);
typedef _Unwind_Ptr (*zms_unwind_getip_fn)(struct _Unwind_Context *);

static zms_unwind_backtrace_fn unwind_backtrace;
static zms_unwind_getip_fn unwind_getip;
static uintptr_t own_text_start, own_text_end; /* this library's executable segment */

/* dl_iterate_phdr callback: the executable segment of the object loaded at `base`. */
static int find_own_text(struct dl_phdr_info *info, size_t size, void *base) {
  (void)size;
  if ((void *)info->dlpi_addr != base) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
    if (segment->p_type == PT_LOAD && (segment->p_flags & PF_X)) {
      own_text_start = info->dlpi_addr + segment->p_vaddr;
      own_text_end = own_text_start + segment->p_memsz;
      return 1;
    }
  }
  return 0;
}

int zms_backtrace_setup(void) {
  if (unwind_backtrace) return 0;
  Dl_info own;
  if (!dladdr((void *)zms_backtrace_setup, &own) ||
      !dl_iterate_phdr(find_own_text, own.dli_fbase)) return -1;
  void *lib = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return -1;
  zms_unwind_getip_fn getip = (zms_unwind_getip_fn)dlsym(lib, "_Unwind_GetIP");
  zms_unwind_backtrace_fn walk = (zms_unwind_backtrace_fn)dlsym(lib, "_Unwind_Backtrace");
  if (!getip || !walk) return -1;
  unwind_getip = getip;
  __atomic_store_n(&unwind_backtrace, walk, __ATOMIC_RELEASE);
  return 0;
}

static int is_own(uintptr_t address) { return address - own_text_start < own_text_end - own_text_start; }

struct zms_walk {
  uintptr_t *out;
  int max;
  int skip;
  int count;
};

/* Files one return address; false when the walk is full. */
static int walk_record(struct zms_walk *walk, uintptr_t address) {
  if (walk->skip > 0) {
    walk->skip--;
    return 1;
  }
  walk->out[walk->count++] = address;
  return walk->count < walk->max;
}

static _Unwind_Reason_Code zms_walk_step(struct _Unwind_Context *context, void *argument) {
  uintptr_t ip = (uintptr_t)unwind_getip(context);
  if (ip == 0) return _URC_END_OF_STACK;
  return walk_record(argument, ip) ? _URC_NO_REASON : _URC_END_OF_STACK;
}

#if defined(__x86_64__)
/*
 * zms_unwind_from(backtrace, step, walk, ip, sp, fp): backtrace(step, walk), called from
 * a frame whose caller, for the unwinder, is the frame that returns to ip with stack
 * pointer sp and frame pointer fp: the CFA is r12 (= sp), the return address is in r13
 * (= ip) and the caller's rbp in r14 (= fp). The first frame it reports is its own.
 */
__attribute__((visibility("hidden")))
void zms_unwind_from(zms_unwind_backtrace_fn backtrace, _Unwind_Trace_Fn step, void *walk,
                     uintptr_t ip, uintptr_t sp, uintptr_t fp);
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl zms_unwind_from\n"
    ".hidden zms_unwind_from\n"
    ".type zms_unwind_from, @function\n"
    "zms_unwind_from:\n"
    ".cfi_startproc\n"
    "  pushq %rbp\n"
    "  .cfi_def_cfa_offset 16\n"
    "  .cfi_offset %rbp, -16\n"
    "  movq %rsp, %rbp\n"
    "  .cfi_def_cfa_register %rbp\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  .cfi_offset %r12, -24\n"
    "  .cfi_offset %r13, -32\n"
    "  .cfi_offset %r14, -40\n"
    "  movq %r8, %r12\n"
    "  movq %rcx, %r13\n"
    "  movq %r9, %r14\n"
    "  .cfi_remember_state\n"
    "  .cfi_def_cfa %r12, 0\n"
    "  .cfi_register %rip, %r13\n"
    "  .cfi_register %rbp, %r14\n"
    "  .cfi_undefined %r12\n"
    "  .cfi_undefined %r13\n"
    "  .cfi_undefined %r14\n"
    "  movq %rdi, %rax\n"
    "  movq %rsi, %rdi\n"
    "  movq %rdx, %rsi\n"
    "  callq *%rax\n"
    "  .cfi_restore_state\n"
    "  leaq -32(%rbp), %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbp\n"
    "  .cfi_def_cfa %rsp, 8\n"
    "  retq\n"
    ".cfi_endproc\n"
    ".size zms_unwind_from, .-zms_unwind_from\n");
#endif

int zms_backtrace(uintptr_t *out, int max, int skip) {
  zms_unwind_backtrace_fn walk_fn = __atomic_load_n(&unwind_backtrace, __ATOMIC_ACQUIRE);
  if (!walk_fn || max <= 0) return 0;
  struct zms_walk walk = {out, max, skip, 0};
  /* The allocator's frames, by their frame pointers: frame[0] is the caller's frame
   * pointer, frame[1] the return address. */
  uintptr_t *frame = __builtin_frame_address(0);
  for (int depth = 0; is_own(frame[1]); depth++) {
    if (!walk_record(&walk, frame[1])) return walk.count;
    uintptr_t *caller = (uintptr_t *)frame[0];
    if (depth == 64 || caller <= frame || ((uintptr_t)caller & 7)) return walk.count;
    frame = caller;
  }
#if defined(__x86_64__)
  /* frame is the outermost of the allocator's frames: the program's frame it returns to
   * runs with the stack pointer just above it and the frame pointer it saved. */
  walk.skip++; /* zms_unwind_from's own frame */
  zms_unwind_from(walk_fn, zms_walk_step, &walk, frame[1], (uintptr_t)(frame + 2), frame[0]);
#endif
  return walk.count;
}

int zms_symbolize(uintptr_t return_address, struct zms_symbol *out) {
  Dl_info info;
  memset(out, 0, sizeof *out);
  /* The call is the instruction before the return address, which may be past the end
   * of a function that never returns. */
  if (!dladdr((void *)(return_address - 1), &info) || !info.dli_fbase) return 0;
  uintptr_t start = (uintptr_t)(info.dli_saddr ? info.dli_saddr : info.dli_fbase);
  out->object = info.dli_fname;
  out->name = info.dli_saddr ? info.dli_sname : NULL;
  out->offset = return_address - start;
  out->own = is_own(return_address);
  return 1;
}
