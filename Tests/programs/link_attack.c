/*
 * link_attack.c: the leak-one-link attack on the free lists (issue 16).
 *
 * An attacker who can read a freed block (use after free) learns its encoded link; if
 * the block was the last on its slab's list, that link is the slab's key itself. With
 * two writes it then tries to make malloc hand out an address of its choosing: it frees
 * a second block and overwrites that block's link with the target, encoded with the key
 * it learned, and calls malloc twice.
 *   cross  the second block lies in another slab (the attacker's key is the first
 *          slab's), and the target is a live block of the first slab;
 *   same   the second block lies in the same slab (the key is right), and the target is
 *          a live block of that slab.
 * Setup: 64-byte blocks are allocated until two slabs have been filled completely (no
 * free or never-used chunk left in them), so that the first freed block of a slab is the
 * only one on its list. Before the victim, half of the victim's slab is freed (blocks
 * the attack does not use), so that the slab is back among the zone's partial slabs
 * (a full slab comes back once enough of it is free) and the victim, freed last, heads
 * its list. The program then prints "yielded P inside|outside" for the second malloc's
 * result and exits 0 (a failure for the test when the allocator should have aborted);
 * an abort is the expected answer.
 * Usage: link_attack cross|same
 */
#include "common.h"

#define SLAB ((uintptr_t)1 << 16)
#define MAX_BLOCKS 8192

static char *blocks[MAX_BLOCKS];

/* Index of the first block of the n-th full slab: blocks are handed out in address
 * order within a slab, so a slab is full once 1024 blocks of it are out. */
static int slab_start(int count, int nth) {
  int seen = 0;
  for (int i = 0; i < count; i++) {
    int in_slab = 0;
    for (int j = 0; j < count; j++)
      if (((uintptr_t)blocks[j] & ~(SLAB - 1)) == ((uintptr_t)blocks[i] & ~(SLAB - 1))) in_slab++;
    if (in_slab == (int)(SLAB / 64) && ((uintptr_t)blocks[i] & (SLAB - 1)) == 0 && seen++ == nth) return i;
  }
  ZT_FAIL("no full slab #%d among %d blocks", nth, count);
}

static int index_of(int count, uintptr_t address) {
  for (int i = 0; i < count; i++) if ((uintptr_t)blocks[i] == address) return i;
  return -1;
}

int main(int argc, char **argv) {
  int same = argc > 1 && strcmp(argv[1], "same") == 0;
  if (argc < 2 || (!same && strcmp(argv[1], "cross") != 0)) ZT_FAIL("usage: link_attack cross|same");
  int count = 0;
  while (count < 3 * (int)(SLAB / 64)) {
    blocks[count] = malloc(64);
    if (!blocks[count]) ZT_FAIL("malloc");
    memset(blocks[count], 0x5a, 64);
    count++;
  }
  char *first = blocks[index_of(count, (uintptr_t)blocks[slab_start(count, 0)])];
  char *second_slab = blocks[slab_start(count, 1)];
  char *leaked = first + 64 * 10;            /* in the first slab */
  char *target = first + 64 * 20;           /* a live block of the first slab */
  char *victim = same ? first + 64 * 30 : second_slab + 64 * 10;
  if (same) target = first + 64 * 20;
  free(leaked);
  uint64_t link;
  memcpy(&link, leaked, 8);                 /* the use-after-free read: the slab's key */
  uintptr_t victim_slab = (uintptr_t)victim & ~(SLAB - 1);
  int freed = (uintptr_t)leaked >> 16 == victim_slab >> 16;
  for (int i = 0; i < count && freed < (int)(SLAB / 64 / 2); i++) {
    char *p = blocks[i];
    if (((uintptr_t)p & ~(SLAB - 1)) != victim_slab || p == leaked || p == target || p == victim) continue;
    free(p);
    blocks[i] = NULL;
    freed++;
  }
  free(victim);
  uint64_t crafted = (uint64_t)(uintptr_t)target ^ link;
  memcpy(victim, &crafted, 8);              /* the use-after-free write */
  /* The two mallocs come from the slab freed into last, the head of the partial slabs,
   * as the attacker's next requests would. */
  char *volatile a = malloc(64), *volatile b = malloc(64);
  uintptr_t slab = (uintptr_t)victim & ~(SLAB - 1);
  int inside = ((uintptr_t)b & ~(SLAB - 1)) == slab && ((uintptr_t)b - slab) % 64 == 0;
  printf("yielded %p %s (a=%p)\n", (void *)b, inside ? "inside" : "outside", (void *)a);
  return 0;
}
