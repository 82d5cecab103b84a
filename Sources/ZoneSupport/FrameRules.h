/*
 * FrameRules.h: stepping from a frame of the program to its caller with cached rules
 * read from its DWARF call frame information (FrameRules.c). Private to ZoneSupport.
 */
#ifndef ZONE_SUPPORT_FRAME_RULES_H
#define ZONE_SUPPORT_FRAME_RULES_H

#include "ZoneSupport.h"

/* A frame during a walk: the return address into it, and its stack pointer and frame
 * pointer (rsp and rbp, or sp and x29) at that call; on AArch64, for the instruction a
 * signal interrupted, the link register x30 too (0 when unknown: a caller's x30 was
 * overwritten by its call), which holds the return address until the function saves it. */
struct zms_frame {
  uintptr_t pc, sp, fp, lr;
};

#if defined(__aarch64__)
/* A return address as saved on the stack, less any pointer-authentication code
 * (xpaclri: a no-op before Armv8.3 and for addresses never signed). */
static inline uintptr_t zms_strip_return_address(uintptr_t saved) {
  register uintptr_t x30 __asm__("x30") = saved;
  __asm__("hint #7" : "+r"(x30));
  return x30;
}
#endif

/* Hands over libgcc's _Unwind_Find_FDE. */
void zms_frame_rules_setup(void *find_fde);
/* Moves `frame` to its caller; 0 when the stack ends (or cannot be followed) there. */
int zms_frame_step(struct zms_frame *frame);

#endif
