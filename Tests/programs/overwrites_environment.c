/*
 * overwrites_environment.c: overwrites every environment string in place, as
 * setproctitle implementations do (nginx, postgres), then exits. The statistics summary
 * must still go to the file ZONEMALLOC_STATS named when the program started.
 * Prints "overwritten N" (N environment strings).
 */
#include <stdio.h>
#include <string.h>

extern char **environ;

int main(void) {
  int n = 0;
  for (char **entry = environ; *entry != NULL; entry++, n++) memset(*entry, 'x', strlen(*entry));
  printf("overwritten %d\n", n);
  return 0;
}
