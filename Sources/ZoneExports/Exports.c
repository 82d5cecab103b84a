/*
 * Exports.c: the export layer.
 *
 * The libc names (malloc, free, ...) are --defsym aliases of the zm_* functions, set in
 * Package.swift, so a call to malloc lands in the Swift core with no extra jump. The
 * version script exports.map keeps every other symbol local, including the weak
 * swift_retain/swift_once that Embedded Swift emits. This file holds the library's
 * constructor and destructor, which hand over to the core, and _exit/_Exit: programs
 * that leave through _exit (dash does, so every `sh -c` does) run no destructor, so
 * these print the statistics summary first (when it is on) and then end the process as
 * glibc's _exit does. The C++ operators are in Operators.c.
 */
#include "ZoneExports.h"

#include <sys/syscall.h>
#include <unistd.h>

void zmcore_construct(void);
void zmcore_destruct(void);

__attribute__((constructor)) static void zonemalloc_constructor(void) { zmcore_construct(); }
__attribute__((destructor)) static void zonemalloc_destructor(void) { zmcore_destruct(); }

void _exit(int status) {
  zmcore_destruct();
  for (;;) syscall(SYS_exit_group, status);
}

void _Exit(int status) __attribute__((noreturn, alias("_exit")));
