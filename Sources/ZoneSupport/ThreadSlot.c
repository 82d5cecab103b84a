/*
 * ThreadSlot.c: the thread's zone pointer, the empty zone, the sentinel slab, and the
 * sampled features' per-thread state.
 *
 * A thread's slot starts at the empty zone. Its first ZMS_SENTINEL_WORDS words (a zone's
 * bucket table and per-class "current slab" array) all point at the sentinel slab, whose
 * header is all zeros but its base word (ZMS_SENTINEL_BASE_WORD), which is 1: no free
 * chunk, and the empty list's head, 0, lies outside it. So the first malloc of every thread falls to the slow path,
 * which creates the real zone. A thread whose zone was torn down points at the exited
 * zone instead (same contents): glibc frees the thread's TLS blocks after the key
 * destructors ran, and such a late free must not create a zone that nothing would tear
 * down. These objects are read-only in practice; Swift checks that
 * its Zone type fits in ZMS_EMPTY_ZONE_WORDS at boot.
 *
 * The sampled features' state (random state, hold-off depth) is zero in every new
 * thread.
 */
#include "ZoneSupport.h"

static uintptr_t zms_sentinel_slab[4096 / sizeof(uintptr_t)] __attribute__((aligned(4096))) = {
  [ZMS_SENTINEL_BASE_WORD] = 1,
};

void *zms_empty_zone[ZMS_EMPTY_ZONE_WORDS] __attribute__((aligned(64))) = {
  [0 ... ZMS_SENTINEL_WORDS - 1] = zms_sentinel_slab,
};

void *zms_exited_zone[ZMS_EMPTY_ZONE_WORDS] __attribute__((aligned(64))) = {
  [0 ... ZMS_SENTINEL_WORDS - 1] = zms_sentinel_slab,
};

__thread void *zms_zone_slot __attribute__((tls_model("initial-exec"), visibility("hidden"))) = zms_empty_zone;

__thread struct zms_sampler_thread zms_sampler_thread_state
  __attribute__((tls_model("initial-exec"), visibility("hidden")));
