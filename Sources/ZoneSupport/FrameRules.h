/*
 * FrameRules.h: stepping from a frame of the program to its caller with cached rules
 * read from its DWARF call frame information (FrameRules.c). Private to ZoneSupport.
 */
#ifndef ZONE_SUPPORT_FRAME_RULES_H
#define ZONE_SUPPORT_FRAME_RULES_H

#include "ZoneSupport.h"

/* A frame during a walk: the return address into it, and its rsp and rbp at that call. */
struct zms_frame {
  uintptr_t pc, rsp, rbp;
};

/* Hands over libgcc's _Unwind_Find_FDE. */
void zms_frame_rules_setup(void *find_fde);
/* Moves `frame` to its caller; 0 when the stack ends (or cannot be followed) there. */
int zms_frame_step(struct zms_frame *frame);

#endif
