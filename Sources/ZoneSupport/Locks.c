/*
 * Locks.c: every global lock, statically initialised, and their re-creation after fork.
 * Lock order (outer first): reclaim, teardown slots, zones, orphans, depots, arenas,
 * purge, big, background. Fork.swift takes them all in this order.
 *
 * Locks held for a few instructions (zones, orphans, depots, arenas, big) are glibc
 * adaptive mutexes: they spin briefly before they sleep, which keeps two threads that
 * churn big blocks from waking each other through futex calls. The purge, reclaim and
 * teardown locks are plain sleeping mutexes: their holders make system calls, and a
 * waiter should sleep (the purge lock is the seed's "mutex, not a spinlock").
 */
#include "ZoneSupport.h"

pthread_mutex_t zms_global_locks[ZMS_GLOBAL_LOCKS] = {
  [ZMS_LOCK_RECLAIM] = PTHREAD_MUTEX_INITIALIZER,
  [ZMS_LOCK_ZONES] = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
  [ZMS_LOCK_ORPHANS] = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
  [ZMS_LOCK_PURGE] = PTHREAD_MUTEX_INITIALIZER,
  [ZMS_LOCK_BIG] = PTHREAD_MUTEX_INITIALIZER,
  [ZMS_LOCK_BACKGROUND] = PTHREAD_MUTEX_INITIALIZER,
};
pthread_mutex_t zms_depot_locks[ZMS_MAX_NODES] = {
  [0 ... ZMS_MAX_NODES - 1] = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
};
pthread_mutex_t zms_arena_locks[ZMS_MAX_NODES] = {
  [0 ... ZMS_MAX_NODES - 1] = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
};
pthread_mutex_t zms_teardown_locks[ZMS_MAX_TEARDOWN_SLOTS] = {
  [0 ... ZMS_MAX_TEARDOWN_SLOTS - 1] = PTHREAD_MUTEX_INITIALIZER,
};

/* A fork child re-creates each lock as it was statically initialised. */
static void reinit(pthread_mutex_t *locks, int count, bool adaptive) {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  if (adaptive) pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ADAPTIVE_NP);
  for (int i = 0; i < count; i++) pthread_mutex_init(&locks[i], &attributes);
  pthread_mutexattr_destroy(&attributes);
}

void zms_reinit_locks(void) {
  reinit(&zms_global_locks[ZMS_LOCK_RECLAIM], 1, false);
  reinit(&zms_global_locks[ZMS_LOCK_ZONES], 2, true);
  reinit(&zms_global_locks[ZMS_LOCK_PURGE], 1, false);
  reinit(&zms_global_locks[ZMS_LOCK_BIG], 1, true);
  reinit(&zms_global_locks[ZMS_LOCK_BACKGROUND], 1, false);
  reinit(zms_depot_locks, ZMS_MAX_NODES, true);
  reinit(zms_arena_locks, ZMS_MAX_NODES, true);
  reinit(zms_teardown_locks, ZMS_MAX_TEARDOWN_SLOTS, false);
}
