/*
 * FaultSignal.c: the SIGSEGV handler of the guarded slots, chained to the program's.
 *
 * zms_fault_install puts zms_fault_handler (SA_SIGINFO | SA_ONSTACK) in front of the
 * handler SIGSEGV had, and remembers that one. The handler gives the faulting address to
 * the hook (Sampling/GuardFault.swift), which reports and aborts when the address is in
 * a guarded slot and returns otherwise; the fault then goes, unchanged, to the
 * remembered handler, or when there was none to the default action (SIG_DFL, re-raised).
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
 * memory.
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
static int access_of(void *context) {
#if defined(__x86_64__)
  const ucontext_t *uc = context;
  return (uc->uc_mcontext.gregs[REG_ERR] & 2) ? ZMS_ACCESS_WRITE : ZMS_ACCESS_READ;
#else
  (void)context;
  return ZMS_ACCESS_UNKNOWN;
#endif
}

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
  fault_hook((uintptr_t)info->si_addr, access_of(context));
  forward(sig, info, context);
  errno = saved;
}
