/*
 * guard_faults.c: misuses of guarded blocks, and correct use of them, for the guarded
 * sampling tests (ZONEMALLOC_GUARD_RATE=1 guards every allocation that fits a slot).
 *
 * Usage: guard_faults MODE, MODE one of
 *   uaf_read       allocate 64 bytes, free them, read byte 8
 *   uaf_write      the same, but write byte 8
 *   overflow       write one byte past the end of a 64-byte block
 *   underflow      write one byte before a 64-byte block (run with the underflow option)
 *   double_free    free a 64-byte block twice
 *   invalid_free   free the address 16 bytes into a 64-byte block
 *   own_handler    install a SIGSEGV handler (after the library's constructor, as
 *                  programs do), allocate, then touch a page of its own mapped PROT_NONE:
 *                  the handler must run; it prints "own handler ran" and exits 0
 *   own_handler_uaf the same handler, then a use-after-free: zonemalloc's report, not
 *                  the program's handler, must follow
 *   wild_fault     touch a PROT_NONE page of its own, with no handler: the default action
 *   correct        use guarded blocks correctly (malloc, calloc, realloc, aligned
 *                  allocation, usable size; sizes up to 40 KiB) and print "guard correct ok"
 *   threads        4 threads allocate blocks, fill them and hand them to each other
 *                  through a shared table, where another thread checks and frees them
 *                  (so slots are claimed and quarantined concurrently, and most frees are
 *                  remote); frees everything and prints "guard threads ok"
 * Before a fault it prints "block=<p> size=<n> fault=<address>" on stdout and flushes.
 * Reaching the end of a misuse prints "survived" and exits 0, a failure for the test.
 *
 * Built with -O0 (every misuse stays as written). zonemalloc's reports name the frames
 * from the program file's symbol table, so no -rdynamic is needed; the stack walk uses
 * the unwind tables, so it needs no frame pointers.
 */
#include "common.h"
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) char *guard_allocate(size_t size) {
  char *p = malloc(size);
  if (!p) ZT_FAIL("malloc(%zu) failed", size);
  memset(p, 0x5a, size);
  return p;
}

__attribute__((noinline)) void guard_release(char *p) { free(p); }

static void announce(const char *block, size_t size, const volatile char *fault) {
  printf("block=%p size=%zu fault=%p\n", (void *)block, size, (const void *)fault);
  fflush(stdout);
}

__attribute__((noinline)) void guard_touch(volatile char *p, int write) {
  if (write) *p = 1;
  else (void)*p;
}

static void misuse_after_free(int write) {
  char *p = guard_allocate(64);
  guard_release(p);
  announce(p, 64, p + 8);
  guard_touch(p + 8, write);
}

static void own_handler(int sig, siginfo_t *info, void *context) {
  (void)sig;
  (void)context;
  static const char text[] = "own handler ran\n";
  if (write(1, text, sizeof text - 1) < 0) _exit(2);
  _exit(info->si_addr ? 0 : 3);
}

static void install_own_handler(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = own_handler;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSEGV, &action, NULL) != 0) ZT_FAIL("sigaction failed");
}

static volatile char *own_forbidden_page(void) {
  char *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) ZT_FAIL("mmap failed");
  return page;
}

/* Guarded blocks must behave like any other. */
static void correct_use(void) {
  static const size_t sizes[] = {1, 16, 24, 64, 100, 1000, 4096, 5000, 16384, 20000, 32768, 40000};
  char *blocks[sizeof sizes / sizeof sizes[0]];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    blocks[i] = guard_allocate(n);
    ZT_CHECK(((uintptr_t)blocks[i] & 15) == 0, "malloc(%zu) = %p not 16-byte aligned", n, (void *)blocks[i]);
    ZT_CHECK(malloc_usable_size(blocks[i]) >= n, "usable size %zu < %zu", malloc_usable_size(blocks[i]), n);
    memset(blocks[i], (int)i, malloc_usable_size(blocks[i]));
  }
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char *grown = realloc(blocks[i], sizes[i] * 2 + 8);
    ZT_CHECK(grown && grown[0] == (char)i && grown[sizes[i] - 1] == (char)i, "realloc lost contents of %zu", sizes[i]);
    char *shrunk = realloc(grown, sizes[i]);
    ZT_CHECK(shrunk && shrunk[sizes[i] - 1] == (char)i, "shrinking realloc lost contents of %zu", sizes[i]);
    free(shrunk);
  }
  for (size_t i = 0; i < 300; i++) { /* more than the slots: some must come from slabs */
    size_t n = 1 + (i * 37) % 3000;
    unsigned char *z = calloc(1, n);
    ZT_CHECK(z != NULL, "calloc(%zu) failed", n);
    for (size_t j = 0; z && j < n; j++) {
      if (z[j]) { ZT_CHECK(0, "calloc(%zu) byte %zu is %d", n, j, z[j]); break; }
    }
    if (z) memset(z, 0xff, n);
    blocks[i % 12] = (char *)z;
    if (i % 12 == 11) for (int k = 0; k < 12; k++) free(blocks[k]);
  }
  for (size_t alignment = 32; alignment <= 65536; alignment *= 2) {
    void *p = NULL;
    ZT_CHECK(posix_memalign(&p, alignment, 100) == 0, "posix_memalign(%zu) failed", alignment);
    ZT_CHECK(((uintptr_t)p & (alignment - 1)) == 0, "posix_memalign(%zu) = %p", alignment, p);
    char *q = aligned_alloc(alignment, alignment * 2);
    ZT_CHECK(q && ((uintptr_t)q & (alignment - 1)) == 0, "aligned_alloc(%zu) = %p", alignment, (void *)q);
    if (q) memset(q, 1, alignment * 2);
    free(p);
    free(q);
  }
  if (zt_failures) exit(1);
  printf("guard correct ok\n");
}

enum { SHARED = 64, ROUNDS = 20000, THREADS = 4 };
static struct {
  pthread_mutex_t lock;
  void *block[SHARED];
  size_t size[SHARED];
} shared = {.lock = PTHREAD_MUTEX_INITIALIZER};
static volatile int thread_failures;

/* Puts a new block in a random cell of the shared table and frees what was there. */
static void *swap_blocks(void *argument) {
  uint64_t state = zt_seed_for((uint64_t)(uintptr_t)argument);
  for (int i = 0; i < ROUNDS; i++) {
    size_t n = zt_skewed_size(&state, 40000);
    void *p = malloc(n);
    if (!p) ZT_FAIL("malloc(%zu) failed", n);
    zt_fill(p, n, 9);
    size_t k = zt_rand(&state) % SHARED;
    pthread_mutex_lock(&shared.lock);
    void *old = shared.block[k];
    size_t old_size = shared.size[k];
    shared.block[k] = p;
    shared.size[k] = n;
    pthread_mutex_unlock(&shared.lock);
    if (old && !zt_check(old, old_size, 9)) thread_failures++;
    free(old);
  }
  return NULL;
}

static void threaded_use(void) {
  pthread_t threads[THREADS];
  for (uintptr_t t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, swap_blocks, (void *)(t + 1));
  for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
  for (int k = 0; k < SHARED; k++) {
    if (shared.block[k] && !zt_check(shared.block[k], shared.size[k], 9)) thread_failures++;
    free(shared.block[k]);
  }
  if (thread_failures) ZT_FAIL("%d blocks changed while live", thread_failures);
  printf("guard threads ok\n");
}

int main(int argc, char **argv) {
  if (argc != 2) ZT_FAIL("usage: guard_faults MODE");
  const char *mode = argv[1];
  if (strcmp(mode, "uaf_read") == 0) {
    misuse_after_free(0);
  } else if (strcmp(mode, "uaf_write") == 0) {
    misuse_after_free(1);
  } else if (strcmp(mode, "overflow") == 0) {
    char *p = guard_allocate(64);
    announce(p, 64, p + 64);
    guard_touch(p + 64, 1);
  } else if (strcmp(mode, "underflow") == 0) {
    char *p = guard_allocate(64);
    announce(p, 64, p - 1);
    guard_touch(p - 1, 1);
  } else if (strcmp(mode, "double_free") == 0) {
    char *p = guard_allocate(64);
    guard_release(p);
    announce(p, 64, p);
    guard_release(p);
  } else if (strcmp(mode, "invalid_free") == 0) {
    char *p = guard_allocate(64);
    announce(p, 64, p + 16);
    guard_release(p + 16);
  } else if (strcmp(mode, "own_handler") == 0) {
    install_own_handler();
    guard_release(guard_allocate(64)); /* a guarded allocation: zonemalloc re-claims SIGSEGV */
    volatile char *page = own_forbidden_page();
    announce(NULL, 0, page);
    guard_touch(page, 1);
  } else if (strcmp(mode, "own_handler_uaf") == 0) {
    install_own_handler();
    misuse_after_free(0);
  } else if (strcmp(mode, "wild_fault") == 0) {
    volatile char *page = own_forbidden_page();
    announce(NULL, 0, page);
    guard_touch(page, 0);
  } else if (strcmp(mode, "correct") == 0) {
    correct_use();
    return 0;
  } else if (strcmp(mode, "threads") == 0) {
    threaded_use();
    return 0;
  } else {
    ZT_FAIL("unknown mode %s", mode);
  }
  printf("survived\n");
  return 0;
}
