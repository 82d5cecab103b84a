/*
 * wipeonfork_probe.c: whether this kernel (or emulator) honours MADV_WIPEONFORK, which
 * the allocator's fork detection relies on (ZoneSupport/Locks.c). qemu-user 7.2 answers
 * 0 to the advice and ignores it.
 *
 * Usage: wipeonfork_probe. Prints "wipeonfork advice=RC honoured=0|1" and exits 0.
 */
#include "common.h"
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  volatile int *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (word == MAP_FAILED) ZT_FAIL("mmap failed");
  int advice = madvise((void *)word, 4096, MADV_WIPEONFORK);
  *word = 1;
  pid_t pid = fork();
  if (pid < 0) ZT_FAIL("fork failed");
  if (pid == 0) _exit(*word == 0 ? 0 : 1);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) ZT_FAIL("the child did not exit");
  printf("wipeonfork advice=%d honoured=%d\n", advice, WEXITSTATUS(status) == 0);
  return 0;
}
