/*
 * FrameRules.c: how to step from a frame of the program to its caller, read once from
 * the program's DWARF call frame information and then cached (Backtrace.c walks with it).
 *
 * A rule says, for one return address, where the canonical frame address (CFA) is (the
 * stack pointer or the frame pointer plus an offset), where the return address was
 * saved (x86-64: always at CFA - 8; AArch64: wherever the CFI put x30, or still in x30,
 * which only the instruction a signal interrupted can use: zms_frame's lr), and whether
 * the frame pointer (rbp, x29) was saved (at CFA + an offset) or kept. It is worked out by
 * finding the FDE with libgcc's _Unwind_Find_FDE and running its CIE's and its own CFA
 * instructions up to the call. Anything this subset cannot say (a CFA computed by a
 * DWARF expression, the frame pointer or the return address kept in another register, a
 * signal trampoline) makes a "stop" rule: the stack ends there. A return address that is
 * undefined (_start, a thread's first frame) is the end of the stack.
 *
 * The cache is direct-mapped, 4096 entries of (return address, rule), shared by all
 * threads without a lock: a writer clears the key, writes the rule, then publishes the
 * key; a reader takes the rule only if the key reads the same before and after it.
 * x86-64 and AArch64 (their DWARF register numbers and rule layouts below); elsewhere no
 * stack is walked. On AArch64 a return address loaded from the stack may carry a
 * pointer-authentication code (code built with -mbranch-protection): it is stripped
 * (xpaclri, a no-op before Armv8.3), so DW_CFA_AARCH64_negate_ra_state needs no state.
 */
#include "FrameRules.h"

#if defined(__x86_64__) || defined(__aarch64__)

#if defined(__x86_64__)
enum { DWARF_FP = 6, DWARF_SP = 7, DWARF_RA = 16 };
#else
enum { DWARF_FP = 29, DWARF_SP = 31, DWARF_RA = 30 };
#endif

/* Rule bits: 32-bit CFA offset, the saved-register offsets (rule_offsets), then flags. */
#define RULE_VALID (1ull << 63)
#define RULE_STOP (1ull << 62)
#define RULE_CFA_FP (1ull << 61)
#define RULE_FP_SAVED (1ull << 60)

struct dwarf_eh_bases { void *tbase, *dbase, *func; };
typedef const void *(*find_fde_fn)(void *pc, struct dwarf_eh_bases *bases);
static find_fde_fn find_fde;

#define CACHE_SIZE 4096
static struct { uintptr_t pc; uint64_t rule; } cache[CACHE_SIZE];

void zms_frame_rules_setup(void *find) { find_fde = (find_fde_fn)find; }

/* ---- Reading DWARF ------------------------------------------------------------------- */

static uint64_t uleb(const uint8_t **p) {
  uint64_t value = 0;
  int shift = 0;
  uint8_t byte;
  do {
    byte = *(*p)++;
    if (shift < 64) value |= (uint64_t)(byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  return value;
}

static int64_t sleb(const uint8_t **p) {
  int64_t value = 0;
  int shift = 0;
  uint8_t byte;
  do {
    byte = *(*p)++;
    if (shift < 64) value |= (int64_t)(byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  if (shift < 64 && (byte & 0x40)) value |= -((int64_t)1 << shift);
  return value;
}

/* Bytes taken by a pointer in encoding `encoding` (DW_EH_PE_*), or -1 if unknown. */
static int encoded_size(uint8_t encoding) {
  switch (encoding & 0x0f) {
  case 0x00: return 8;            /* absptr */
  case 0x02: case 0x0a: return 2; /* udata2, sdata2 */
  case 0x03: case 0x0b: return 4; /* udata4, sdata4 */
  case 0x04: case 0x0c: return 8; /* udata8, sdata8 */
  default: return -1;             /* uleb128/sleb128: not used for code addresses */
  }
}

/* One entry's header: its length (extended lengths are not supported) and its body. */
static const uint8_t *entry_body(const uint8_t *entry, const uint8_t **end) {
  uint32_t length;
  memcpy(&length, entry, 4);
  if (length == 0 || length == 0xffffffffu) return NULL;
  *end = entry + 4 + length;
  return entry + 4;
}

/* ---- Running the CFA program --------------------------------------------------------- */

struct frame_state {
  int cfa_reg;
  int64_t cfa_offset;
  int fp_saved;       /* 1: at CFA + fp_offset */
  int64_t fp_offset;
  int ra_undefined;
  int unsupported;
  int ra_saved;       /* AArch64 (x86-64 requires CFA - 8): 1 when at CFA + ra_offset */
  int64_t ra_offset;
};

struct cie_info {
  uint64_t code_align;
  int64_t data_align;
  uint8_t fde_encoding;
  int augmentation_data; /* "z": FDEs carry augmentation data */
  int signal_frame;
  const uint8_t *instructions, *end;
};

static int parse_cie(const uint8_t *cie, struct cie_info *info) {
  const uint8_t *end;
  const uint8_t *p = entry_body(cie, &end);
  if (!p) return -1;
  p += 4; /* CIE id */
  uint8_t version = *p++;
  const char *augmentation = (const char *)p;
  while (*p) p++;
  p++;
  info->code_align = uleb(&p);
  info->data_align = sleb(&p);
  uint64_t ra = version == 1 ? *p++ : uleb(&p);
  if (ra != DWARF_RA) return -1;
  info->fde_encoding = 0;
  info->signal_frame = 0;
  info->augmentation_data = augmentation[0] == 'z';
  if (augmentation[0] == 'z') {
    uint64_t length = uleb(&p);
    const uint8_t *data = p;
    for (const char *a = augmentation + 1; *a; a++) {
      if (*a == 'R') info->fde_encoding = *data++;
      else if (*a == 'L') data++;
      else if (*a == 'P') {
        int size = encoded_size(*data);
        if (size < 0) return -1;
        data += 1 + size;
      } else if (*a == 'S') info->signal_frame = 1;
      else if (*a != 'B') return -1;
    }
    p += length;
  } else if (augmentation[0]) {
    return -1;
  }
  info->instructions = p;
  info->end = end;
  return 0;
}

static void set_register(struct frame_state *s, uint64_t reg, int saved, int64_t offset) {
  if (reg == DWARF_FP) {
    s->fp_saved = saved;
    s->fp_offset = offset;
  } else if (reg == DWARF_RA) {
#if defined(__x86_64__)
    if (!(saved && offset == -8)) s->unsupported = 1;
#else
    s->ra_saved = saved;
    s->ra_offset = offset;
#endif
  }
}

/* DW_CFA_restore(_extended), DW_CFA_same_value: the register as the CIE left it, or kept. */
static void restore_register(struct frame_state *s, const struct frame_state *initial, uint64_t reg) {
  if (reg == DWARF_FP) { s->fp_saved = initial->fp_saved; s->fp_offset = initial->fp_offset; }
  if (reg == DWARF_RA) { s->ra_saved = initial->ra_saved; s->ra_offset = initial->ra_offset; }
}

/* Runs instructions while the location stays at or before `target`. */
static void run(const uint8_t *p, const uint8_t *end, const struct cie_info *cie, uintptr_t location,
                uintptr_t target, const struct frame_state *initial, struct frame_state *s) {
  struct frame_state stack[8];
  int depth = 0;
  while (p < end && location <= target && !s->unsupported) {
    uint8_t op = *p++;
    uint8_t high = op & 0xc0, low = op & 0x3f;
    if (high == 0x40) { location += low * cie->code_align; continue; }
    if (high == 0x80) { set_register(s, low, 1, (int64_t)uleb(&p) * cie->data_align); continue; }
    if (high == 0xc0) { restore_register(s, initial, low); continue; }
    uint64_t reg, length;
    switch (op) {
    case 0x00: break;                                                       /* nop */
    case 0x02: location += *p++ * cie->code_align; break;                  /* advance_loc1 */
    case 0x03: { uint16_t d; memcpy(&d, p, 2); p += 2; location += d * cie->code_align; break; }
    case 0x04: { uint32_t d; memcpy(&d, p, 4); p += 4; location += d * cie->code_align; break; }
    case 0x05: reg = uleb(&p); set_register(s, reg, 1, (int64_t)uleb(&p) * cie->data_align); break;
    case 0x11: reg = uleb(&p); set_register(s, reg, 1, sleb(&p) * cie->data_align); break;
    case 0x2f: reg = uleb(&p); set_register(s, reg, 1, -(int64_t)uleb(&p) * cie->data_align); break;
    case 0x06: restore_register(s, initial, uleb(&p)); break;               /* restore_extended */
    case 0x07:                                                              /* undefined */
      reg = uleb(&p);
      if (reg == DWARF_RA) s->ra_undefined = 1;
      else if (reg == DWARF_FP) s->fp_saved = 0;
      break;
    case 0x08:                                                              /* same_value */
      reg = uleb(&p);
      if (reg == DWARF_FP) s->fp_saved = 0;
      if (reg == DWARF_RA) s->ra_saved = 0;
      break;
    case 0x09:                                                              /* register */
      reg = uleb(&p);
      uleb(&p);
      if (reg == DWARF_FP || reg == DWARF_RA) s->unsupported = 1;
      break;
    case 0x0a: if (depth < 8) stack[depth++] = *s; else s->unsupported = 1; break;
    case 0x0b: if (depth > 0) *s = stack[--depth]; else s->unsupported = 1; break;
    case 0x0c: s->cfa_reg = (int)uleb(&p); s->cfa_offset = (int64_t)uleb(&p); break;
    case 0x0d: s->cfa_reg = (int)uleb(&p); break;
    case 0x0e: s->cfa_offset = (int64_t)uleb(&p); break;
    case 0x12: s->cfa_reg = (int)uleb(&p); s->cfa_offset = sleb(&p) * cie->data_align; break;
    case 0x13: s->cfa_offset = sleb(&p) * cie->data_align; break;
    case 0x10: case 0x16:                                                   /* (val_)expression */
      reg = uleb(&p);
      length = uleb(&p);
      p += length;
      if (reg == DWARF_FP || reg == DWARF_RA) s->unsupported = 1;
      break;
    case 0x14: case 0x15:                                                   /* val_offset(_sf) */
      reg = uleb(&p);
      uleb(&p);
      if (reg == DWARF_FP || reg == DWARF_RA) s->unsupported = 1;
      break;
    case 0x2e: uleb(&p); break;                                             /* GNU_args_size */
#if defined(__aarch64__)
    case 0x2d: break;                          /* AARCH64_negate_ra_state: stripped on load */
#endif
    default: s->unsupported = 1; break;                 /* def_cfa_expression, set_loc, ... */
    }
  }
}

/* ---- Rules --------------------------------------------------------------------------- */

#if defined(__x86_64__)
/* x86-64: bits 32-47 hold the rbp offset; the return address is always at CFA - 8. */
static int rule_offsets(const struct frame_state *s, uint64_t *bits) {
  if (s->fp_offset < INT16_MIN || s->fp_offset > INT16_MAX) return 0;
  *bits = (uint64_t)(uint16_t)s->fp_offset << 32;
  return 1;
}
static intptr_t fp_offset_of(uint64_t rule) { return (int16_t)(rule >> 32); }
static intptr_t ra_offset_of(uint64_t rule) { (void)rule; return -8; }
static uintptr_t return_address(uintptr_t saved) { return saved; }
#else
/* AArch64: bits 32-45 and 46-59 hold the x29 and x30 offsets in 8-byte units (signed,
 * -64 KiB exclusive to +64 KiB). The x30 offset's lowest value, RA_IN_LINK, says x30 was
 * not saved: the return address is still in the link register, which is known only for
 * the instruction a signal interrupted (a frame that called has saved x30). */
#define RA_IN_LINK (-8192 * 8)
static int fits_units(int64_t offset) { return offset % 8 == 0 && offset > RA_IN_LINK && offset < 8192 * 8; }
static int rule_offsets(const struct frame_state *s, uint64_t *bits) {
  int64_t ra_offset = s->ra_saved ? s->ra_offset : RA_IN_LINK;
  if ((s->ra_saved && !fits_units(s->ra_offset)) || !fits_units(s->fp_offset)) return 0;
  *bits = ((uint64_t)((s->fp_offset / 8) & 0x3fff) << 32) | ((uint64_t)((ra_offset / 8) & 0x3fff) << 46);
  return 1;
}
static intptr_t fp_offset_of(uint64_t rule) { return (intptr_t)((int64_t)(rule << 18) >> 50) * 8; }
static intptr_t ra_offset_of(uint64_t rule) { return (intptr_t)((int64_t)(rule << 4) >> 50) * 8; }
static uintptr_t return_address(uintptr_t saved) { return zms_strip_return_address(saved); }
#endif

/* A CFA at least one slot above the stack pointer, except (AArch64) in a function that
 * has neither moved sp nor saved x30 yet, whose caller's sp is its own. */
static int cfa_offset_fits(const struct frame_state *s) {
  if (s->cfa_offset > INT32_MAX) return 0;
#if defined(__aarch64__)
  if (s->cfa_offset == 0 && s->cfa_reg == DWARF_SP && !s->ra_saved) return 1;
#endif
  return s->cfa_offset >= 8;
}

static uint64_t compute(uintptr_t pc) {
  struct dwarf_eh_bases bases;
  const uint8_t *fde = find_fde ? find_fde((void *)(pc - 1), &bases) : NULL;
  if (!fde) return RULE_VALID | RULE_STOP;
  const uint8_t *fde_end;
  const uint8_t *p = entry_body(fde, &fde_end);
  if (!p) return RULE_VALID | RULE_STOP;
  int32_t cie_offset;
  memcpy(&cie_offset, p, 4);
  struct cie_info cie;
  if (parse_cie(p - cie_offset, &cie) != 0 || cie.signal_frame) return RULE_VALID | RULE_STOP;
  int size = encoded_size(cie.fde_encoding);
  if (size < 0) return RULE_VALID | RULE_STOP;
  p += 4 + 2 * size; /* CIE pointer, pc_begin, pc_range */
  if (cie.augmentation_data) p += uleb(&p);
#if defined(__x86_64__)
  struct frame_state initial = {DWARF_SP, 8, 0, 0, 0, 0, 0, 0};
#else
  struct frame_state initial = {DWARF_SP, 0, 0, 0, 0, 0, 0, 0};
#endif
  run(cie.instructions, cie.end, &cie, 0, 0, &initial, &initial);
  struct frame_state s = initial;
  run(p, fde_end, &cie, (uintptr_t)bases.func, pc - 1, &initial, &s);
  if (s.ra_undefined) return RULE_VALID | RULE_STOP;
  uint64_t offsets;
  if (s.unsupported || initial.unsupported || (s.cfa_reg != DWARF_SP && s.cfa_reg != DWARF_FP) ||
      !cfa_offset_fits(&s) || !rule_offsets(&s, &offsets)) {
    return RULE_VALID | RULE_STOP;
  }
  return RULE_VALID | (s.cfa_reg == DWARF_FP ? RULE_CFA_FP : 0) | (s.fp_saved ? RULE_FP_SAVED : 0) | offsets |
         (uint64_t)(uint32_t)s.cfa_offset;
}

static uint64_t rule_for(uintptr_t pc) {
  size_t i = (size_t)((pc * 0x9E3779B97F4A7C15ull) >> 52);
  uintptr_t key = __atomic_load_n(&cache[i].pc, __ATOMIC_ACQUIRE);
  if (key == pc) {
    uint64_t rule = __atomic_load_n(&cache[i].rule, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&cache[i].pc, __ATOMIC_RELAXED) == pc) return rule;
  }
  uint64_t rule = compute(pc);
  __atomic_store_n(&cache[i].pc, 0, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&cache[i].rule, rule, __ATOMIC_RELAXED);
  __atomic_store_n(&cache[i].pc, pc, __ATOMIC_RELEASE);
  return rule;
}

int zms_frame_step(struct zms_frame *frame) {
  uint64_t rule = rule_for(frame->pc);
  if (rule & RULE_STOP) return 0;
  uintptr_t cfa = ((rule & RULE_CFA_FP) ? frame->fp : frame->sp) + (uint32_t)rule;
  if (cfa < frame->sp || cfa - frame->sp > ((uintptr_t)1 << 24)) return 0;
#if defined(__aarch64__)
  uintptr_t link = frame->lr;
  frame->lr = 0; /* a caller's x30 is unknown */
  if (ra_offset_of(rule) == RA_IN_LINK) {
    if (!link) return 0;
    if (rule & RULE_FP_SAVED) frame->fp = *(const uintptr_t *)(cfa + fp_offset_of(rule));
    frame->pc = return_address(link);
    frame->sp = cfa;
    return frame->pc > 4096;
  }
#endif
  if (cfa == frame->sp) return 0;
  if (rule & RULE_FP_SAVED) frame->fp = *(const uintptr_t *)(cfa + fp_offset_of(rule));
  frame->pc = return_address(*(const uintptr_t *)(cfa + ra_offset_of(rule)));
  frame->sp = cfa;
  return frame->pc > 4096;
}

#else

void zms_frame_rules_setup(void *find) { (void)find; }
int zms_frame_step(struct zms_frame *frame) { (void)frame; return 0; }

#endif
