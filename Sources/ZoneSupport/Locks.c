/*
 * Locks.c: every global lock, statically initialised, and their re-creation after fork.
 * Lock order (outer first): reclaim, teardown slots, zones, orphans, depots, arenas,
 * purge, big, background, profile. Fork.swift takes them all in this order. The profile
 * lock is a leaf: it is taken with no other lock held and nothing is taken under it.
 *
 * All are plain glibc mutexes, which sleep in the kernel when contended and wake one
 * waiter at a time. Adaptive (spin-first) mutexes were measured on the big lock and lost:
 * on two busy cores a spinner mostly waits for a holder that has been preempted.
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

static void reinit(pthread_mutex_t *locks, int count) {
  for (int i = 0; i < count; i++) pthread_mutex_init(&locks[i], NULL);
}

void zms_reinit_locks(void) {
  reinit(zms_global_locks, ZMS_GLOBAL_LOCKS);
  reinit(zms_depot_locks, ZMS_MAX_NODES);
  reinit(zms_arena_locks, ZMS_MAX_NODES);
  reinit(zms_teardown_locks, ZMS_MAX_TEARDOWN_SLOTS);
}
