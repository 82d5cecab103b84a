/* ZoneProtocolFibers.h: cooperative fibers on one thread for the slab protocol's
 * exhaustive test (Tests/ZoneProtocolTests). The explorer runs each modelled thread on
 * a fiber and switches at the protocol's scheduling points, so a schedule is replayed
 * exactly and a switch costs no system call. */
#ifndef ZONE_PROTOCOL_FIBERS_H
#define ZONE_PROTOCOL_FIBERS_H
#include <stddef.h>

typedef struct zpf_fiber zpf_fiber;

/* A fiber with a stack of `stack_bytes`; NULL if it cannot be mapped. */
zpf_fiber *zpf_create(size_t stack_bytes);
/* Runs `entry(arg)` on the fiber from the top of its stack at the next zpf_resume; a
 * run it was in the middle of is abandoned (its frames are never unwound). */
void zpf_reset(zpf_fiber *fiber, void (*entry)(void *), void *arg);
/* Runs the fiber until it yields or its entry returns: 1 when it has returned. */
int zpf_resume(zpf_fiber *fiber);
/* From a fiber: back to the zpf_resume that ran it. */
void zpf_yield(void);
/* From a fiber: ends its run at once, as if its entry had returned. */
void zpf_exit(void) __attribute__((noreturn));
#endif
