/*
 * FaultSignal.c: the SIGSEGV handler of the guarded slots, chained to the program's.
 *
 * zms_fault_install puts zms_fault_handler (SA_SIGINFO | SA_ONSTACK) in front of the
 * handler SIGSEGV had, and remembers that one. The handler gives the faulting address,
 * the access and the signal's context (for the faulting code's stack) to the hook
 * (Sampling/GuardFault.swift), which reports and aborts when the address is in a guarded
 * slot and returns otherwise; the fault then goes, unchanged, to the remembered handler,
 * or when there was none to the default action (SIG_DFL, re-raised).
 *
 * Programs usually install their handlers after the library's constructor ran, so
 * zms_fault_reclaim, called on each guarded allocation (rare), looks whether ours is
 * still installed and, if the program replaced it, remembers the program's and puts ours
 * back in front. Each remembered handler is written to the next of 8 entries and then
 * published by storing that entry's index, so the signal handler never reads an entry
 * half written (an entry is rewritten only 8 re-claims later), and no lock is needed:
 * nothing here can be left held by a thread that a fork leaves behind.
 *
 * Everything the handler does is async-signal-safe: sigaction, raise, errno, reading
 * memory; the report the hook writes adds write, and open, fstat, mmap, munmap and close
 * to read the objects' files (Symbols.c), and walks the stack (Backtrace.c).
 */
#include "ZoneSupport.h"

#define CHAINED_ENTRIES 8
static zms_fault_hook fault_hook;
static struct sigaction chained[CHAINED_ENTRIES]; /* zero: SIG_DFL */
static unsigned chained_index;                    /* the entry in force */
static unsigned chained_next = 1;                 /* the entry the next one goes to */

static void zms_fault_handler(int sig, siginfo_t *info, void *context);

static int is_ours(const struct sigaction *action) {
  return (action->sa_flags & SA_SIGINFO) && action->sa_sigaction == zms_fault_handler;
}

static int same_handler(const struct sigaction *a, const struct sigaction *b) {
  return a->sa_flags == b->sa_flags && a->sa_handler == b->sa_handler;
}

static void remember(const struct sigaction *action) {
  unsigned entry = __atomic_fetch_add(&chained_next, 1, __ATOMIC_RELAXED) % CHAINED_ENTRIES;
  chained[entry] = *action;
  __atomic_store_n(&chained_index, entry, __ATOMIC_RELEASE);
}

void zms_fault_reclaim(void) {
  struct sigaction current, previous, ours;
  if (!fault_hook || sigaction(SIGSEGV, NULL, &current) != 0 || is_ours(&current)) return;
  remember(&current);
  memset(&ours, 0, sizeof ours);
  ours.sa_sigaction = zms_fault_handler;
  ours.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&ours.sa_mask);
  /* A handler installed between the two calls is the one to chain to. */
  if (sigaction(SIGSEGV, &ours, &previous) == 0 && !is_ours(&previous) &&
      !same_handler(&previous, &current)) {
    remember(&previous);
  }
}

int zms_fault_install(zms_fault_hook hook) {
  fault_hook = hook;
  zms_fault_reclaim();
  struct sigaction check;
  return sigaction(SIGSEGV, NULL, &check) == 0 && is_ours(&check) ? 0 : -1;
}

/* Read or write, from the page-fault error code where the architecture gives it. */
#if defined(__aarch64__)
#include <asm/sigcontext.h>

/* The ESR record the kernel puts in the signal frame for a fault (Linux 3.16 on), or 0.
 * The records of uc_mcontext.__reserved end with a zero magic. */
static uint64_t fault_esr(const ucontext_t *uc) {
  const uint8_t *at = (const uint8_t *)uc->uc_mcontext.__reserved;
  const uint8_t *end = at + sizeof uc->uc_mcontext.__reserved;
  while (at + sizeof(struct _aarch64_ctx) <= end) {
    const struct _aarch64_ctx *record = (const struct _aarch64_ctx *)at;
    if (record->magic == 0 || record->size < sizeof *record || record->size > (size_t)(end - at)) break;
    if (record->magic == ESR_MAGIC && record->size >= sizeof(struct esr_context))
      return ((const struct esr_context *)record)->esr;
    at += record->size;
  }
  return 0;
}

/* Without an ESR record (qemu-user gives none), the faulting instruction tells. In the
 * loads and stores (op0 x1x0) bit 22 is L, except: a general register's LDR/STR is a
 * store only when opc (bits 23:22) is 00, and so are LDAPUR/STLUR; the pointer-
 * authenticated loads use those bits otherwise; atomics and compare-and-swap write (LDAPR
 * only reads). A fault on the instruction fetch itself is UNKNOWN. */
static int access_of_instruction(const ucontext_t *uc, uintptr_t address) {
  uintptr_t pc = uc->uc_mcontext.pc;
  if ((pc ^ address) >> 16 == 0 || (pc & 3)) return ZMS_ACCESS_UNKNOWN;
  uint32_t insn = *(const uint32_t *)pc;
  int load = (insn >> 22 & 1) ? ZMS_ACCESS_READ : ZMS_ACCESS_WRITE;
  int opc_load = (insn >> 22 & 3) ? ZMS_ACCESS_READ : ZMS_ACCESS_WRITE;
  if ((insn & 0x0a000000) != 0x08000000) return ZMS_ACCESS_UNKNOWN;  /* not a load or store */
  if ((insn & 0x3b000000) == 0x18000000) return ZMS_ACCESS_READ;     /* load literal */
  if ((insn & 0x3f000000) == 0x08000000)                             /* exclusive, ordered, CAS(P) */
    return (insn >> 21 & 1) && ((insn >> 23 & 1) || !(insn >> 31)) ? ZMS_ACCESS_WRITE : load;
  if ((insn & 0x3f200c00) == 0x19000000) return opc_load;            /* LDAPUR, STLUR */
  if ((insn & 0x3a000000) != 0x38000000) return load;                /* pairs, SIMD structures */
  if (insn >> 26 & 1) return load;                                   /* one SIMD&FP register */
  if ((insn & 0x01200c00) == 0x00200000)                             /* atomics */
    return (insn >> 12 & 0xf) == 0xc ? ZMS_ACCESS_READ : ZMS_ACCESS_WRITE;
  if ((insn & 0x01200400) == 0x00200400) return ZMS_ACCESS_READ;     /* LDRAA, LDRAB */
  return opc_load;                                                   /* one general register */
}

/* ESR: EC 0x24/0x25 is a data abort, and its WnR bit (6) says a write. */
static int access_of(void *context, uintptr_t address) {
  const ucontext_t *uc = context;
  uint64_t esr = fault_esr(uc);
  uint64_t class = esr >> 26 & 0x3f;
  if (class == 0x24 || class == 0x25) return (esr & (1u << 6)) ? ZMS_ACCESS_WRITE : ZMS_ACCESS_READ;
  if (esr != 0) return ZMS_ACCESS_UNKNOWN;
  return access_of_instruction(uc, address);
}
#else
static int access_of(void *context, uintptr_t address) {
  (void)address;
#if defined(__x86_64__)
  const ucontext_t *uc = context;
  return (uc->uc_mcontext.gregs[REG_ERR] & 2) ? ZMS_ACCESS_WRITE : ZMS_ACCESS_READ;
#else
  (void)context;
  return ZMS_ACCESS_UNKNOWN;
#endif
}
#endif

/* The fault is not a guarded slot's: hand it on as if this handler were not there. */
static void forward(int sig, siginfo_t *info, void *context) {
  const struct sigaction *next = &chained[__atomic_load_n(&chained_index, __ATOMIC_ACQUIRE)];
  if (next->sa_flags & SA_SIGINFO) {
    if (next->sa_sigaction) next->sa_sigaction(sig, info, context);
    return;
  }
  if (next->sa_handler != SIG_DFL && next->sa_handler != SIG_IGN) {
    next->sa_handler(sig);
    return;
  }
  /* An ignored SIGSEGV that a process sent stays ignored; a real fault is fatal either way. */
  if (next->sa_handler == SIG_IGN && info->si_code <= 0) return;
  struct sigaction fallback;
  memset(&fallback, 0, sizeof fallback);
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  sigaction(sig, &fallback, NULL);
  raise(sig); /* pending until this handler returns, then the default action */
}

static void zms_fault_handler(int sig, siginfo_t *info, void *context) {
  int saved = errno;
  fault_hook((uintptr_t)info->si_addr, access_of(context, (uintptr_t)info->si_addr), context);
  forward(sig, info, context);
  errno = saved;
}
