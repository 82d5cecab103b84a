/*
 * measure.c: runs one command and reports its rusage, for the benchmark driver.
 *
 * Why it exists: Linux records a process's peak RSS (ru_maxrss) as the largest RSS of
 * every address space the process has had, including the one it had before exec. A
 * child started by the driver with posix_spawn (vfork) or fork starts out in, or as
 * a copy of, the driver's own address space, so its ru_maxrss could never be below
 * the driver's (about 20 MiB of Swift and Foundation). This tiny program is small,
 * so the command it forks and execs starts from a few hundred KiB and its ru_maxrss
 * is its own.
 *
 * Usage: measure REPORT_FILE [--preload LIB] COMMAND [ARGS...]
 * Runs COMMAND (searched on PATH) with the inherited stdin, stdout, stderr and
 * environment, plus LD_PRELOAD=LIB when --preload is given (set only in the
 * command, so this program itself never runs on the allocator under test), waits
 * for it with wait4, and writes one line to REPORT_FILE:
 *   status=RAW_WAIT_STATUS maxrss_kib=N user_us=N sys_us=N
 * (times and maxrss include the command's own waited-for children). Exits 0 after
 * writing the report, or 127 if the command could not be started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static long long micros(struct timeval tv) { return (long long)tv.tv_sec * 1000000 + tv.tv_usec; }

int main(int argc, char **argv) {
  int cmd = 2;
  const char *preload = NULL;
  if (argc > 3 && strcmp(argv[2], "--preload") == 0) {
    preload = argv[3];
    cmd = 4;
  }
  if (argc <= cmd) {
    fprintf(stderr, "usage: measure REPORT_FILE [--preload LIB] COMMAND [ARGS...]\n");
    return 127;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "measure: fork: %s\n", strerror(errno));
    return 127;
  }
  if (pid == 0) {
    if (preload) setenv("LD_PRELOAD", preload, 1);
    execvp(argv[cmd], argv + cmd);
    fprintf(stderr, "measure: cannot run %s: %s\n", argv[cmd], strerror(errno));
    _exit(127);
  }
  signal(SIGINT, SIG_IGN);  /* an interrupt goes to the command; we still report */
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "measure: wait4: %s\n", strerror(errno));
      return 127;
    }
  }
  FILE *f = fopen(argv[1], "w");
  if (!f) {
    fprintf(stderr, "measure: cannot write %s: %s\n", argv[1], strerror(errno));
    return 127;
  }
  fprintf(f, "status=%d maxrss_kib=%ld user_us=%lld sys_us=%lld\n", status, ru.ru_maxrss,
          micros(ru.ru_utime), micros(ru.ru_stime));
  fclose(f);
  return 0;
}
