/*
 * guard_rate_runs.c: how often guarded sampling catches one use-after-free.
 *
 * Usage: guard_rate_runs RUNS
 * Runs itself RUNS times (fork and exec of /proc/self/exe, so every run is a fresh
 * process with fresh random draws), one at a time, each with the argument "child" and
 * the environment it was given (LD_PRELOAD, ZONEMALLOC_GUARD_RATE). A child allocates
 * and frees 2,000 blocks of mixed sizes, using each correctly (every byte written and
 * checked), then allocates a 64-byte block, prints "block=<p>" on stderr, frees it and
 * reads it. Each run must end one of two ways:
 *   - clean: exit status 0 and nothing on stderr but the block line (the read went
 *     unnoticed: the block was not guarded);
 *   - caught: SIGABRT, with a report naming a use-after-free of that 64-byte block.
 * Anything else (another report, another signal, a failed check) is a false report.
 * Prints "runs=R caught=C false=F" and, for the first few false reports, what they were.
 */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static int child(void) {
  char *blocks[64] = {0};
  size_t sizes[64] = {0};
  uint64_t state = zt_seed_for((uint64_t)getpid());
  for (int i = 0; i < 2000; i++) {
    int k = i % 64;
    if (blocks[k] && !zt_check(blocks[k], sizes[k], 5)) ZT_FAIL("a block of %zu bytes changed", sizes[k]);
    free(blocks[k]);
    sizes[k] = zt_skewed_size(&state, 40000);
    blocks[k] = malloc(sizes[k]);
    if (!blocks[k]) ZT_FAIL("malloc(%zu) failed", sizes[k]);
    zt_fill(blocks[k], sizes[k], 5);
  }
  for (int k = 0; k < 64; k++) free(blocks[k]);
  char *volatile block = malloc(64);
  memset(block, 7, 64);
  fprintf(stderr, "block=%p\n", (void *)block);
  free(block);
  char late = *(volatile char *)(block + 8); /* the use after free */
  (void)late;
  return 0;
}

/* Reads all of fd into buffer (NUL-terminated, cut at size - 1). */
static void read_all(int fd, char *buffer, size_t size) {
  size_t used = 0;
  ssize_t n;
  while ((n = read(fd, buffer + used, size - 1 - used)) > 0) used += (size_t)n;
  buffer[used] = 0;
}

/* 1 caught, 0 clean, -1 false. */
static int classify(int status, const char *err) {
  const char *line = strstr(err, "block=");
  void *block = NULL;
  if (!line || sscanf(line, "block=%p", &block) != 1) return -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return strstr(err, "zonemalloc") ? -1 : 0;
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) return -1;
  char expected[128];
  snprintf(expected, sizeof expected, "is 8 bytes into the 64-byte block at %p (guarded slot", block);
  return strstr(err, "zonemalloc: use-after-free on address ") && strstr(err, expected) ? 1 : -1;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "child") == 0) return child();
  if (argc != 2) ZT_FAIL("usage: guard_rate_runs RUNS");
  int runs = atoi(argv[1]), caught = 0, falses = 0;
  static char err[65536];
  for (int i = 0; i < runs; i++) {
    int pipefd[2];
    if (pipe(pipefd) != 0) ZT_FAIL("pipe failed");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) ZT_FAIL("fork failed");
    if (pid == 0) {
      dup2(pipefd[1], 2);
      close(pipefd[0]);
      close(pipefd[1]);
      execl("/proc/self/exe", argv[0], "child", (char *)NULL);
      _exit(127);
    }
    close(pipefd[1]);
    read_all(pipefd[0], err, sizeof err);
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    int outcome = classify(status, err);
    if (outcome > 0) caught++;
    if (outcome < 0 && ++falses <= 3) printf("false report (status %#x):\n%s\n", status, err);
  }
  printf("runs=%d caught=%d false=%d\n", runs, caught, falses);
  return 0;
}
