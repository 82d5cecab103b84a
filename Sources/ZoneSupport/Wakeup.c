/*
 * Wakeup.c: how the background thread sleeps and is woken: a condition variable with a
 * timeout (its tick), plus a pending flag so that a wake-up sent while it works is not
 * lost. Its mutex is of an inner lock class (only the heap profiler's leaf lock is
 * inner to it), so a wake-up may be sent with other allocator locks held. Re-created when
 * a forked child is repaired.
 */
#include "ZoneSupport.h"

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static bool wake_pending;

void zms_background_sleep(unsigned milliseconds) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += milliseconds / 1000;
  deadline.tv_nsec += (long)(milliseconds % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  zms_lock(&wake_lock, ZMS_CLASS_WAKE);
  while (!wake_pending) {
    if (pthread_cond_timedwait(&wake_cond, &wake_lock, &deadline) != 0) break;
  }
  wake_pending = false;
  zms_unlock(&wake_lock, ZMS_CLASS_WAKE);
}

void zms_background_wake(void) {
  zms_lock(&wake_lock, ZMS_CLASS_WAKE);
  wake_pending = true;
  pthread_cond_signal(&wake_cond);
  zms_unlock(&wake_lock, ZMS_CLASS_WAKE);
}

void zms_background_reinit(void) {
  pthread_mutex_init(&wake_lock, NULL);
  pthread_condattr_t attributes;
  pthread_condattr_init(&attributes);
  pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
  pthread_cond_init(&wake_cond, &attributes);
  pthread_condattr_destroy(&attributes);
  wake_pending = false;
}
