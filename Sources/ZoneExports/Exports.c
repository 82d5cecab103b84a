/*
 * Exports.c: the export layer.
 *
 * The libc names (malloc, free, ...) are --defsym aliases of the zm_* functions, set in
 * Package.swift, so a call to malloc lands in the Swift core with no extra jump. The
 * version script exports.map keeps every other symbol local, including the weak
 * swift_retain/swift_once that Embedded Swift emits. This file holds only the library's
 * constructor and destructor, which hand over to the core.
 */
#include "ZoneExports.h"

void zmcore_construct(void);
void zmcore_destruct(void);

__attribute__((constructor)) static void zonemalloc_constructor(void) { zmcore_construct(); }
__attribute__((destructor)) static void zonemalloc_destructor(void) { zmcore_destruct(); }
