/*
 * Locks.c: every allocator mutex, the per-thread record of which lock classes a thread
 * holds, the lock-order check, and the lazy repair of a forked child.
 *
 * Every lock belongs to a class; classes nest in the order of the enum in ZoneSupport.h
 * (outer first). A thread may take a lock only when every lock it holds is of an outer
 * class; it never holds two of one class. zms_held_classes records, per thread, the
 * classes held: slow paths ask it "does this thread hold any allocator lock?" before they
 * call out of the allocator (pthread_create, dlopen, stdio), and with
 * ZONEMALLOC_CHECK_LOCKS=1 every acquisition checks the order and aborts on a violation.
 *
 * Fork holds no lock: nothing is taken in a prepare handler, so fork() never waits for
 * the allocator and the allocator never waits for fork (glibc takes its stdio locks after
 * the prepare handlers, and other libraries' handlers may allocate). Instead a forked
 * child repairs itself before it takes its first lock: zms_fork_word lies in a page
 * advised MADV_WIPEONFORK, which reads 0 in a child, and every acquisition checks it.
 * The first thread that sees 0 runs the repair (the runtime's, set at boot): it notes which
 * locks a vanished thread held, re-creates every lock, and repairs or abandons what
 * those locks guarded. A pthread_atfork child handler clears the word too when the page
 * was not wiped: on a kernel without MADV_WIPEONFORK, and under qemu-user (7.2), which
 * answers 0 to the advice and ignores it. It tells a child not yet repaired by the pid
 * the last repair (or boot) recorded.
 */
#include "ZoneSupport.h"

pthread_mutex_t zms_global_locks[ZMS_GLOBAL_LOCKS] = {
  [0 ... ZMS_GLOBAL_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER,
};
pthread_mutex_t zms_depot_locks[ZMS_MAX_NODES] = {
  [0 ... ZMS_MAX_NODES - 1] = PTHREAD_MUTEX_INITIALIZER,
};
pthread_mutex_t zms_arena_locks[ZMS_MAX_NODES] = {
  [0 ... ZMS_MAX_NODES - 1] = PTHREAD_MUTEX_INITIALIZER,
};
pthread_mutex_t zms_teardown_locks[ZMS_MAX_TEARDOWN_SLOTS] = {
  [0 ... ZMS_MAX_TEARDOWN_SLOTS - 1] = PTHREAD_MUTEX_INITIALIZER,
};

__thread uint32_t zms_held_classes __attribute__((tls_model("initial-exec"), visibility("hidden")));
int zms_check_lock_order;

/* 1 in a process that needs no repair. Before boot it is this static word; boot moves it
 * to a MADV_WIPEONFORK page. 0 in a child not yet repaired, 2 while one is repairing. */
static uint64_t fork_word_before_boot = 1;
uint64_t *zms_fork_word = &fork_word_before_boot;

static pid_t repaired_pid; /* the process that last repaired itself (or booted) */

/* A child needs its repair whatever the word was at the fork: 1, or 2 when another thread
 * of the parent was repairing (the parent was itself a child), which no thread of this
 * process will finish. */
static void clear_fork_word_in_child(void) {
  if (getpid() != __atomic_load_n(&repaired_pid, __ATOMIC_RELAXED))
    __atomic_store_n(zms_fork_word, 0, __ATOMIC_RELEASE);
}

void zms_fork_word_setup(void) {
  static bool handler_registered;
  __atomic_store_n(&repaired_pid, getpid(), __ATOMIC_RELAXED);
  if (!handler_registered) handler_registered = pthread_atfork(NULL, NULL, clear_fork_word_in_child) == 0;
  size_t bytes = (size_t)getauxval(AT_PAGESZ);
  uint64_t *page = zms_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (page && madvise(page, bytes, MADV_WIPEONFORK) == 0) {
    *page = 1;
    __atomic_store_n(&zms_fork_word, page, __ATOMIC_RELEASE);
    return;
  }
  if (page) munmap(page, bytes);
}

/* The repairing thread blocks signals while it repairs (bounded work, no wait): a
 * handler that allocated on it would otherwise wait for the repair it interrupted. */
static void (*fork_repair)(void);

void zms_set_fork_repair(void (*repair)(void)) { fork_repair = repair; }

void zms_fork_repair(void) {
  uint64_t expected = 0;
  if (__atomic_compare_exchange_n(zms_fork_word, &expected, 2, false, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    if (fork_repair) fork_repair();
    __atomic_store_n(&repaired_pid, getpid(), __ATOMIC_RELAXED);
    __atomic_store_n(zms_fork_word, 1, __ATOMIC_RELEASE);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return;
  }
  while (__atomic_load_n(zms_fork_word, __ATOMIC_ACQUIRE) != 1) sched_yield();
}

void zms_lock_order_violation(unsigned cls) {
  static const char text[] = "zonemalloc: lock order violation: taking a lock of class ";
  char line[sizeof(text) + 24];
  memcpy(line, text, sizeof(text) - 1);
  size_t n = sizeof(text) - 1;
  line[n++] = (char)('0' + cls / 10);
  line[n++] = (char)('0' + cls % 10);
  static const char held[] = " while holding classes 0x";
  memcpy(line + n, held, sizeof(held) - 1);
  n += sizeof(held) - 1;
  for (int shift = 12; shift >= 0; shift -= 4) line[n++] = "0123456789abcdef"[(zms_held_classes >> shift) & 15];
  line[n++] = '\n';
  ssize_t unused = write(2, line, n);
  (void)unused;
  abort();
}

/* Re-creates one lock; true if somebody held it at fork. */
static bool reinit_was_held(pthread_mutex_t *lock) {
  bool held = pthread_mutex_trylock(lock) != 0;
  pthread_mutex_init(lock, NULL);
  return held;
}

static uint64_t reinit_array(pthread_mutex_t *locks, int count) {
  uint64_t held = 0;
  for (int i = 0; i < count; i++)
    if (reinit_was_held(&locks[i])) held |= (uint64_t)1 << i;
  return held;
}

struct zms_held_at_fork zms_reinit_locks_after_fork(void) {
  struct zms_held_at_fork held;
  held.global = (uint32_t)reinit_array(zms_global_locks, ZMS_GLOBAL_LOCKS);
  held.depots = reinit_array(zms_depot_locks, ZMS_MAX_NODES);
  held.arenas = reinit_array(zms_arena_locks, ZMS_MAX_NODES);
  reinit_array(zms_teardown_locks, ZMS_MAX_TEARDOWN_SLOTS);
  return held;
}
