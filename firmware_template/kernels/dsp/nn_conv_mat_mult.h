/* Internal to dsp/nn_conv2d_q7.c and nn_conv2d_s8.c: the SMLAD mat-mult over four interleaved
 * columns (1 output channel x 4 pixels per pass; a hand-scheduled loop on ARM, the same
 * computation in C for NN_EMULATE_DSP); the epilogue is q7's shift or s8's per-channel
 * MultiplyByQuantizedMultiplier (modes 3-5). Static functions in a header
 * included once, by each of those files: the compiler sees them exactly as if they were written
 * there. */
#ifndef NN_CONV_MAT_MULT_H
#define NN_CONV_MAT_MULT_H

#include "nn_dsp.h"
#include "nn_int8.h"

/* (a0, a1, a2, a3) += one filter (weight row at w) x the 4 interleaved columns at c, over
 * nb >= 1 blocks of 4 K: per block 1 weight word, 2 SXTB16, 8 column words, 8 SMLAD = 16 MACs.
 * MAC_1X4(w, c, n, e, ...) takes nb as n = MAC_1X4_PASSES(nb), e = MAC_1X4_SKIP(nb), which the
 * caller computes once per layer (both are clobbered). */
#if defined(__ARM_FEATURE_DSP) && !defined(NN_EMULATE_DSP) && defined(__GNUC__)
/* Hand-scheduled on ARM: a block's four even (then odd) column words come in one LDM, which needs
 * ascending registers, so r8-r11 are named here (clobbered) and GCC allocates the rest: 13
 * registers, 13 instructions per block, unrolled 8 times and entered in the middle for the
 * nb % 8 first blocks (Duff's device): one ADD PC skips the (-nb) % 8 first blocks, which are
 * 52 bytes each (13 32-bit instructions, checked at assembly), so a row costs 1 instruction
 * before its blocks and 2 per 8 blocks (13.25 per 16 MACs), in 8 blocks of flash. mac_1x4_call
 * enters its loop by a TBB on n % 4 (blocks counted per call); mac_1x4_aligned, the hottest
 * loop, keeps a 1-2-4 prologue (a TBB costs small models' short aligned rows +0.4 % cycles).
 * The C version below is the same computation (it runs on the host with NN_EMULATE_DSP). */
#define MAC_1X4_BLOCK_ASM                                                                      \
    "ldr    %[x], [%[w]], #4\n\t"                                                              \
    "ldmia  %[c]!, {r8, r9, r10, r11}\n\t"                                                     \
    "sxtb16 %[e], %[x]\n\t"                                                                    \
    "smlad  %[a0], %[e], r8, %[a0]\n\t"                                                        \
    "smlad  %[a1], %[e], r9, %[a1]\n\t"                                                        \
    "smlad  %[a2], %[e], r10, %[a2]\n\t"                                                       \
    "smlad  %[a3], %[e], r11, %[a3]\n\t"                                                       \
    "ldmia  %[c]!, {r8, r9, r10, r11}\n\t"                                                     \
    "sxtb16 %[e], %[x], ror #8\n\t"                                                            \
    "smlad  %[a0], %[e], r8, %[a0]\n\t"                                                        \
    "smlad  %[a1], %[e], r9, %[a1]\n\t"                                                        \
    "smlad  %[a2], %[e], r10, %[a2]\n\t"                                                       \
    "smlad  %[a3], %[e], r11, %[a3]\n\t"
/* MAC_1X4_BLOCK_ASM with the registers of mm4_relu_q7 (below); MM4_ODD_HALF_ASM its second half
 * (the odd words), which mm4's first block shares. */
#define MM4_ODD_HALF_ASM                                                                       \
    "ldmia  r5!, {r8, r9, r10, r11}\n\t"                                                       \
    "sxtb16 r12, r7, ror #8\n\t"                                                               \
    "smlad  r0, r12, r8, r0\n\t"                                                               \
    "smlad  r1, r12, r9, r1\n\t"                                                               \
    "smlad  r2, r12, r10, r2\n\t"                                                              \
    "smlad  r3, r12, r11, r3\n\t"
#define MM4_BLOCK_ASM                                                                          \
    "ldr    r7, [r4], #4\n\t"                                                                  \
    "ldmia  r5!, {r8, r9, r10, r11}\n\t"                                                       \
    "sxtb16 r12, r7\n\t"                                                                       \
    "smlad  r0, r12, r8, r0\n\t"                                                               \
    "smlad  r1, r12, r9, r1\n\t"                                                               \
    "smlad  r2, r12, r10, r2\n\t"                                                              \
    "smlad  r3, r12, r11, r3\n\t" MM4_ODD_HALF_ASM
/* Duff's entry for a loop of 4 bodies labelled 10..13 (local labels): n := the passes
 * ceil(n / 4), 0 skips to label 6; else a TBB to body (4 - n % 4) % 4. Clobbers e. */
#define DUFF4_ENTRY_ASM                                                                        \
    "ands   %[e], %[n], #3\n\t"                                                                \
    "add    %[n], %[n], #3\n\t"                                                                \
    "lsrs   %[n], %[n], #2\n\t"                                                                \
    "beq    6f\n\t"                                                                            \
    "tbb    [pc, %[e]]\n\t"                                                                    \
    "1:\n\t"                                                                                   \
    ".byte  (10f - 1b) / 2, (13f - 1b) / 2, (12f - 1b) / 2, (11f - 1b) / 2\n\t"                \
    ".p2align 2\n\t"   /* the branch targets word-aligned (no split fetch); never runs */
#define DUFF_LOOP_END_ASM                                                                      \
    "subs   %[n], %[n], #1\n\t"                                                                \
    "bne    10b\n\t"                                                                           \
    "6:\n\t"
#define MAC_1X4_PASSES(nb) (((nb) + 7) >> 3)
#define MAC_1X4_SKIP(nb) ((uint32_t)(-(nb) & 7) * 52u)
#define MAC_1X4(w, c, n, e, a0, a1, a2, a3)                                                    \
    do {                                                                                       \
        uint32_t x_;                                                                           \
        __asm__ volatile(                                                                      \
            ".p2align 2\n\t"         /* the branch targets word-aligned: no split fetch */   \
            "1:\n\t"                                                                           \
            "add    pc, %[e]\n\t"        /* PC reads as label 1 + 4: block 10 */               \
            "mov    r8, r8\n\t"          /* never runs */                                      \
            "10:\n\t" MAC_1X4_BLOCK_ASM "11:\n\t" MAC_1X4_BLOCK_ASM                            \
            "12:\n\t" MAC_1X4_BLOCK_ASM "13:\n\t" MAC_1X4_BLOCK_ASM                            \
            "14:\n\t" MAC_1X4_BLOCK_ASM "15:\n\t" MAC_1X4_BLOCK_ASM                            \
            "16:\n\t" MAC_1X4_BLOCK_ASM "17:\n\t" MAC_1X4_BLOCK_ASM                            \
            "18:\n\t"                                                                          \
            "subs   %[n], %[n], #1\n\t"                                                        \
            "bne    10b\n\t"                                                                   \
            ".if (10b - 1b != 4) || (18b - 10b != 8 * 52)\n\t"                                 \
            ".error \"MAC_1X4: ADD PC needs 52-byte blocks 4 bytes after it\"\n\t"          \
            ".endif\n\t"                                                                       \
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w),         \
              [c] "+r"(c), [n] "+r"(n), [x] "=&r"(x_), [e] "+r"(e)                             \
            :                                                                                  \
            : "r8", "r9", "r10", "r11", "cc", "memory");                                       \
    } while (0)

/* Two blocks per LDRD of the weight row (word-aligned rows only: LDRD faults on unaligned
 * addresses): 25 instructions per 32 MACs. 14 registers, so out of line (one copy per file;
 * mac_row calls it for word-aligned rows, the hot loop for rows of 16+ blocks, where the call
 * is noise): acc[0..3] += row w x the columns at c over n blocks. */
#define MAC_1X4_PAIR_ASM                                                                       \
    "ldrd   %[x], %[y], [%[w]], #8\n\t"                                                        \
    "ldmia  %[c]!, {r8, r9, r10, r11}\n\t"                                                     \
    "sxtb16 %[e], %[x]\n\t"                                                                    \
    "smlad  %[a0], %[e], r8, %[a0]\n\t"                                                        \
    "smlad  %[a1], %[e], r9, %[a1]\n\t"                                                        \
    "smlad  %[a2], %[e], r10, %[a2]\n\t"                                                       \
    "smlad  %[a3], %[e], r11, %[a3]\n\t"                                                       \
    "ldmia  %[c]!, {r8, r9, r10, r11}\n\t"                                                     \
    "sxtb16 %[x], %[x], ror #8\n\t"                                                            \
    "smlad  %[a0], %[x], r8, %[a0]\n\t"                                                        \
    "smlad  %[a1], %[x], r9, %[a1]\n\t"                                                        \
    "smlad  %[a2], %[x], r10, %[a2]\n\t"                                                       \
    "smlad  %[a3], %[x], r11, %[a3]\n\t"                                                       \
    "ldmia  %[c]!, {r8, r9, r10, r11}\n\t"                                                     \
    "sxtb16 %[e], %[y]\n\t"                                                                    \
    "smlad  %[a0], %[e], r8, %[a0]\n\t"                                                        \
    "smlad  %[a1], %[e], r9, %[a1]\n\t"                                                        \
    "smlad  %[a2], %[e], r10, %[a2]\n\t"                                                       \
    "smlad  %[a3], %[e], r11, %[a3]\n\t"                                                       \
    "ldmia  %[c]!, {r8, r9, r10, r11}\n\t"                                                     \
    "sxtb16 %[y], %[y], ror #8\n\t"                                                            \
    "smlad  %[a0], %[y], r8, %[a0]\n\t"                                                        \
    "smlad  %[a1], %[y], r9, %[a1]\n\t"                                                        \
    "smlad  %[a2], %[y], r10, %[a2]\n\t"                                                       \
    "smlad  %[a3], %[y], r11, %[a3]\n\t"
static NN_NOINLINE NN_MAYBE_UNUSED void mac_1x4_aligned(const int8_t *w, const int16_t *c,
                                                        int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    uint32_t x, y, e;
    __asm__ volatile(
        "tst    %[n], #1\n\t"
        "beq    2f\n\t"
        MAC_1X4_BLOCK_ASM
        "2:\n\t"
        "lsls   %[e], %[n], #30\n\t"   /* N: bit 1 (one pair), C: bit 2 (two pairs) */
        "bpl    3f\n\t"
        MAC_1X4_PAIR_ASM
        "3:\n\t"
        "bcc    4f\n\t"
        MAC_1X4_PAIR_ASM
        MAC_1X4_PAIR_ASM
        "4:\n\t"
        "lsrs   %[n], %[n], #3\n\t"
        "beq    6f\n\t"
        "5:\n\t"
        MAC_1X4_PAIR_ASM
        MAC_1X4_PAIR_ASM
        MAC_1X4_PAIR_ASM
        MAC_1X4_PAIR_ASM
        "subs   %[n], %[n], #1\n\t"
        "bne    5b\n\t"
        "6:\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [c] "+r"(c),
          [n] "+r"(n), [x] "=&r"(x), [y] "=&r"(y), [e] "=&r"(e)
        :
        : "r8", "r9", "r10", "r11", "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#define NN_MAC_ALIGNED 1
#else
#define MAC_1X4_LOOP(w, c, n, a0, a1, a2, a3)                                                  \
    do {                                                                                       \
        for (; n > 0; n--) {                                                                   \
            MAC_1X4_WORD(nn_read32(w), c, a0, a1, a2, a3);                                     \
            c += NN_COLW_STEP;                                                                 \
            w += 4;                                                                            \
        }                                                                                      \
    } while (0)
#define MAC_1X4_PASSES(nb) (nb)
#define MAC_1X4_SKIP(nb) 0u
#define MAC_1X4(w, c, n, e, a0, a1, a2, a3)                                                    \
    do {                                                                                       \
        (void)(e);                                                                             \
        MAC_1X4_LOOP(w, c, n, a0, a1, a2, a3);                                                 \
    } while (0)
#endif

/* The s8 epilogue's fast forms (modes 3 and 5), for layers whose shifts all lie in -22..-1 and
 * |acc| < 2^30 (nn_int8.h: nn_requant2_s8 derives the SMMLAR form). The output zero point goes
 * into SMMLAR's addend too: (X + zp * 2^e) >> e == (X >> e) + zp, and with e <= 22 the addend
 * and the sum stay far inside int32. rq_right = mbqm(acc, mult, -e) + zp. rq_right_relu =
 * max(mbqm(acc, mult, -e), 0) + zp: mbqm of a negative acc is <= 0 and mbqm(0) = 0, so the max
 * can go on the accumulator, where one USAT #31 of 2 * acc does it and makes the sign term 0;
 * SSAT #8 of either then gives the contract's clamp to [-128, 127] / [zp, 127]. */
static inline int32_t rq_addend(int32_t e, int32_t zp)
{
    return (int32_t)((1u << (e - 1)) + ((uint32_t)zp << e));
}

static inline int32_t rq_right(int32_t acc, int32_t mult, int32_t e, int32_t addend)
{
    return nn_mla_hi_round(acc * 2, mult, addend + (acc >> 31)) >> e;
}

static inline int32_t rq_right_relu(int32_t acc, int32_t mult, int32_t e, int32_t addend)
{
    return nn_mla_hi_round(nn_usat31(acc * 2), mult, addend) >> e;
}

/* One block: weight word x (the filter) x the 4 interleaved columns at c. */
#define MAC_1X4_WORD(x, c, a0, a1, a2, a3)                                                     \
    do {                                                                                       \
        const uint32_t x_ = (x);                                                               \
        const int16_t *c_ = (c);                                                               \
        uint32_t w_ = nn_sxtb16(x_);                                                           \
        a0 = nn_smlad(w_, nn_read32_aligned(c_), a0);                                          \
        a1 = nn_smlad(w_, nn_read32_aligned(c_ + 2), a1);                                      \
        a2 = nn_smlad(w_, nn_read32_aligned(c_ + 4), a2);                                      \
        a3 = nn_smlad(w_, nn_read32_aligned(c_ + 6), a3);                                      \
        w_ = nn_sxtb16_ror8(x_);                                                               \
        a0 = nn_smlad(w_, nn_read32_aligned(c_ + 8), a0);                                      \
        a1 = nn_smlad(w_, nn_read32_aligned(c_ + 10), a1);                                     \
        a2 = nn_smlad(w_, nn_read32_aligned(c_ + 12), a2);                                     \
        a3 = nn_smlad(w_, nn_read32_aligned(c_ + 14), a3);                                     \
    } while (0)

/* The first block of a weight row when K % 4 != 0: the column starts with pre = (-K) & 3 zeros,
 * so the row's first 4 - pre weights go to the top bytes of the word (zeros below). For K >= 4
 * one load shifted up (no read outside the row); shorter rows byte by byte. */
static inline uint32_t first_word(const int8_t *row, int32_t pre, int32_t K)
{
    uint32_t x = 0;
    int32_t k;
    if (K >= 4)
        return nn_read32(row) << (8 * pre);
    for (k = K - 1; k >= 0; k--)
        x = (x << 8) | (uint8_t)row[k];
    return x << (8 * pre);
}

/* One requantised output of the given mode (constant in each instance below); b: the channel's
 * bias word (q7) or record (s8). */
static inline __attribute__((__always_inline__)) int8_t
rq_one(int32_t acc, const int32_t *b, int32_t s, int32_t lo, int32_t hi, const int mode)
{
    if (mode == 1)
        return (int8_t)nn_ssat8(nn_round_shift2(acc, s - 1));
    if (mode == 2)
        return (int8_t)nn_usat7(nn_round_shift2(acc, s - 1));
    if (mode == 3)
        return (int8_t)nn_ssat8(rq_right(acc, b[1], -b[2], b[3]));
    if (mode == 5)
        return (int8_t)nn_ssat8(rq_right_relu(acc, b[1], -b[2], b[3]));
    if (mode == 4)
        return nn_requant_s8(acc, b[1], b[2], s, lo, hi);
    return (int8_t)nn_requant(acc, s, lo, hi);
}

/* acc[0..3] += row w x the columns at c over n blocks, out of line (one copy per file): for the
 * rows that build their first block and the instances of the rare epilogues. */
static NN_NOINLINE NN_MAYBE_UNUSED void mac_1x4_call(const int8_t *w, const int16_t *c, int32_t n,
                                                     int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#ifdef MAC_1X4_BLOCK_ASM
    /* unrolled 4 times only (flash): these rows are a small share of the work */
    uint32_t x_, e_;
    __asm__ volatile(
        DUFF4_ENTRY_ASM
        "10:\n\t" MAC_1X4_BLOCK_ASM "11:\n\t" MAC_1X4_BLOCK_ASM
        "12:\n\t" MAC_1X4_BLOCK_ASM "13:\n\t" MAC_1X4_BLOCK_ASM
        DUFF_LOOP_END_ASM
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [c] "+r"(c),
          [n] "+r"(n), [x] "=&r"(x_), [e] "=&r"(e_)
        :
        : "r8", "r9", "r10", "r11", "cc", "memory");
#else
    MAC_1X4_LOOP(w, c, n, a0, a1, a2, a3);
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#ifndef NN_MAC_ALIGNED
#define mac_1x4_aligned mac_1x4_call
#endif

/* The fused-ReLU channel loops (q7 mode 2, s8 mode 5) as hand-written functions on ARM, for the
 * rows of nb >= 2 blocks that the inlined loop would take: per channel the bias (q7: plus the
 * rounding half 2^(s-1), which the contract's accumulator bound includes: kernels/_checks.py) is
 * the first block's addend (no accumulator set-up), the other nb - 1 blocks run 9 to a pass
 * entered by one ADD PC (Duff's device; 9 so that cifar's conv1, nb = 19, takes 2 passes), and
 * the epilogue keeps everything in registers but the out pointer: per channel of cifar's conv1,
 * q7 273 instructions against 289 for the C loop around MAC_1X4, s8 282 against 301 (issue 13:
 * conv1 <= 1.0 per MAC). Each copies the head of its frame (what the loop reloads) to the
 * stack; r0-r3 are the accumulators, r4 the weight row, r5 the columns, r6 the passes, r7 the
 * weight word, r8-r11 the column words, r12 the widened weights, lr the bias (record). */
#if defined(MAC_1X4_BLOCK_ASM)
/* The first block with the bias in r0 as the addend of all four sums. */
#define MM4_FIRST_BLOCK_ASM                                                                    \
    "ldr    r7, [r4], #4\n\t"                                                                  \
    "ldmia  r5!, {r8, r9, r10, r11}\n\t"                                                       \
    "sxtb16 r12, r7\n\t"                                                                       \
    "smlad  r1, r12, r9, r0\n\t"                                                               \
    "smlad  r2, r12, r10, r0\n\t"                                                              \
    "smlad  r3, r12, r11, r0\n\t"                                                              \
    "smlad  r0, r12, r8, r0\n\t" MM4_ODD_HALF_ASM
/* The other blocks (BLOCK, of SIZE bytes): skip (bytes) in r12, passes in r6. */
#define MM4_PASSES_ASM(BLOCK, SIZE)                                                            \
    ".p2align 2\n\t"                                                                           \
    "1:\n\t"                                                                                   \
    "add    pc, r12\n\t"                     /* PC reads as label 1 + 4: block 10 */           \
    "mov    r8, r8\n\t"                      /* never runs */                                  \
    "10:\n\t" BLOCK "11:\n\t" BLOCK "12:\n\t" BLOCK "13:\n\t" BLOCK "14:\n\t" BLOCK            \
    "15:\n\t" BLOCK "16:\n\t" BLOCK "17:\n\t" BLOCK "18:\n\t" BLOCK                            \
    "19:\n\t"                                                                                  \
    "subs   r6, r6, #1\n\t"                                                                    \
    "bne    10b\n\t"                                                                           \
    ".if (10b - 1b != 4) || (19b - 10b != 9 * " #SIZE ")\n\t"                                  \
    ".error \"mm4: ADD PC needs " #SIZE "-byte blocks 4 bytes after it\"\n\t"                 \
    ".endif\n\t"
#define MM4_PASSES(nb) (((nb) - 1 + 8) / 9)
#define MM4_SKIP(nb, size) ((uint32_t)((9 - ((nb) - 1) % 9) % 9) * (size))

typedef struct {
    const int16_t *cols;     /* [0]  */
    int32_t passes;          /* [4]  MM4_PASSES(nb) */
    int32_t rnd;             /* [8]  2^(s-1) */
    uint32_t skip;           /* [12] MM4_SKIP(nb) */
    int32_t s;               /* [16] */
    int8_t *out;             /* [20] */
    int32_t ps, ps3;         /* [24] [28] pixel stride, x 3 */
    const int32_t *b_end;    /* [32] */
    const int8_t *w;         /* [36] not copied */
    const int32_t *b;        /* [40] not copied */
} nn_mm4_frame;

/* The four outputs r0-r3 to o + p * ps (ps3: 3 ps), o + 1 back to the frame's slot, the next
 * channel while the bias pointer lr is not at b_end (r12), then the frame and the registers
 * popped. */
#define MM4_STORE4_LOOP_ASM(o, ps, ps3, slot, frame)                                           \
    "strb   r1, [" o ", " ps "]\n\t"                                                           \
    "strb   r2, [" o ", " ps ", lsl #1]\n\t"                                                   \
    "strb   r3, [" o ", " ps3 "]\n\t"                                                          \
    "strb   r0, [" o "], #1\n\t"                                                               \
    "str    " o ", [sp, #" slot "]\n\t"                                                        \
    "cmp    lr, r12\n\t"                                                                       \
    "bne    20b\n\t"                                                                           \
    "add    sp, sp, #" frame "\n\t"                                                            \
    "pop    {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"
/* The q7 loop with the first block FIRST and the others PASSES (mm4_relu_q7, nn_conv_wide.h). */
#define MM4_RELU_Q7_ASM(FIRST, PASSES) \
        "push   {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t" \
        "sub    sp, sp, #36\n\t" \
        "ldm    r0, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11}\n\t" \
        "stm    sp, {r1, r2, r3, r4, r5, r6, r7, r8, r9}\n\t" \
        "mov    r4, r10\n\t" \
        "mov    lr, r11\n\t" \
        "20:\n\t" \
        "ldm    sp, {r5, r6, r7}\n\t"            /* columns, passes, rounding half */ \
        "ldr    r0, [lr], #4\n\t" \
        "add    r0, r0, r7\n\t" \
        FIRST \
        "ldr    r12, [sp, #12]\n\t" \
        PASSES \
        "add    r7, sp, #16\n\t" \
        "ldm    r7, {r8, r9, r10, r11, r12}\n\t" /* s, out, ps, 3 ps, b_end */ \
        "asr    r0, r0, r8\n\t" \
        "asr    r1, r1, r8\n\t" \
        "asr    r2, r2, r8\n\t" \
        "asr    r3, r3, r8\n\t" \
        "usat   r0, #7, r0\n\t" \
        "usat   r1, #7, r1\n\t" \
        "usat   r2, #7, r2\n\t" \
        "usat   r3, #7, r3\n\t" \
        MM4_STORE4_LOOP_ASM("r9", "r10", "r11", "20", "36")
static NN_NOINLINE NN_MAYBE_UNUSED __attribute__((naked)) void mm4_relu_q7(const nn_mm4_frame *f NN_MAYBE_UNUSED)
{
    __asm__ volatile(MM4_RELU_Q7_ASM(MM4_FIRST_BLOCK_ASM, MM4_PASSES_ASM(MM4_BLOCK_ASM, 52)));
}

typedef struct {
    int8_t *out;             /* [0]  */
    int32_t ps, ps3;         /* [4] [8] */
    const int32_t *b_end;    /* [12] the records' end */
    const int16_t *cols;     /* [16] */
    int32_t passes;          /* [20] */
    uint32_t skip;           /* [24] */
    const int8_t *w;         /* [28] not copied */
    const int32_t *b;        /* [32] not copied: the channel records (NN_S8_CHAN words) */
} nn_mm4s8_frame;

/* The s8 epilogue is rq_right_relu and SSAT #8 (USAT #31 of 2 acc, SMMLAR, ASR, SSAT an output)
 * with the record's multiplier, shift and addend loaded once per channel. */
#define MM4_RELU_S8_ASM(FIRST, PASSES) \
        "push   {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t" \
        "sub    sp, sp, #28\n\t" \
        "ldm    r0, {r1, r2, r3, r4, r5, r6, r7, r8, r9}\n\t" \
        "stm    sp, {r1, r2, r3, r4, r5, r6, r7}\n\t" \
        "mov    r4, r8\n\t" \
        "mov    lr, r9\n\t" \
        "20:\n\t" \
        "ldrd   r5, r6, [sp, #16]\n\t"           /* columns, passes */ \
        "ldr    r0, [lr], #20\n\t"               /* the record's bias; lr: the next record */ \
        FIRST \
        "ldr    r12, [sp, #24]\n\t" \
        PASSES \
        "ldrd   r8, r9, [lr, #-16]\n\t"          /* multiplier, shift (-e) */ \
        "ldr    r10, [lr, #-8]\n\t"              /* addend */ \
        "rsb    r9, r9, #0\n\t" \
        "usat   r0, #31, r0, lsl #1\n\t" \
        "usat   r1, #31, r1, lsl #1\n\t" \
        "usat   r2, #31, r2, lsl #1\n\t" \
        "usat   r3, #31, r3, lsl #1\n\t" \
        "smmlar r0, r0, r8, r10\n\t" \
        "smmlar r1, r1, r8, r10\n\t" \
        "smmlar r2, r2, r8, r10\n\t" \
        "smmlar r3, r3, r8, r10\n\t" \
        "asr    r0, r0, r9\n\t" \
        "asr    r1, r1, r9\n\t" \
        "asr    r2, r2, r9\n\t" \
        "asr    r3, r3, r9\n\t" \
        "ssat   r0, #8, r0\n\t" \
        "ssat   r1, #8, r1\n\t" \
        "ssat   r2, #8, r2\n\t" \
        "ssat   r3, #8, r3\n\t" \
        "ldm    sp, {r5, r6, r11, r12}\n\t"      /* out, ps, 3 ps, b_end */ \
        MM4_STORE4_LOOP_ASM("r5", "r6", "r11", "0", "28")
static NN_NOINLINE NN_MAYBE_UNUSED __attribute__((naked)) void mm4_relu_s8(const nn_mm4s8_frame *f NN_MAYBE_UNUSED)
{
    __asm__ volatile(MM4_RELU_S8_ASM(MM4_FIRST_BLOCK_ASM, MM4_PASSES_ASM(MM4_BLOCK_ASM, 52)));
}
#define NN_MM4_RELU 1
#endif

/* The four requantised outputs of one channel b (bias word or record) at out + p * ps. */
static inline __attribute__((__always_inline__)) void
rq_store4(int8_t *out, int32_t ps, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
          const int32_t *b, int32_t s, int32_t lo, int32_t hi, const int mode)
{
    const int8_t y0 = rq_one(a0, b, s, lo, hi, mode), y1 = rq_one(a1, b, s, lo, hi, mode);
    const int8_t y2 = rq_one(a2, b, s, lo, hi, mode), y3 = rq_one(a3, b, s, lo, hi, mode);
    int8_t *o = out;
    /* one pointer: GCC would otherwise keep (and spill) four, one per pixel */
    NN_AFTER(o, y0);
    o[0] = y0;
    o[ps] = y1;
    o += 2 * ps;
    o[0] = y2;
    o[ps] = y3;
}

/* acc[0..3] (the bias) += weight row `row` (K values) x the columns at cols, out of line: rows
 * that build their first block when K % 4 != 0 (the first row, which may start the weight array:
 * reading pre bytes before it is not allowed; every row when K < 4), word-aligned rows (the LDRD
 * loop; its call costs < 1 % of a row of 16+ blocks) and the rare epilogues' instances. */
static NN_NOINLINE NN_MAYBE_UNUSED void mac_row(const int8_t *row, int32_t K, int built,
                                                const int16_t *cols, int32_t *acc)
{
    const int32_t pre = (-K) & 3, nb = (K + 3) >> 2;
    if (built) {
        MAC_1X4_WORD(first_word(row, pre, K), cols, acc[0], acc[1], acc[2], acc[3]);
        mac_1x4_call(row + 4 - pre, cols + NN_COLW_STEP, nb - 1, acc);
    } else if (pre == 0 && ((uintptr_t)row & 3) == 0) {
        mac_1x4_aligned(row, cols, nb, acc);
    } else {
        mac_1x4_call(row - pre, cols, nb, acc);
    }
}

/* `n_oc` output channels (weight rows from w, bias words / records from b) for four pixels whose
 * columns are interleaved at `cols` (ceil(K / 4) blocks), outputs at out + p * pstride + o.
 * Per channel: a MAC over ceil(K / 4) blocks, 4 requantisations in the given mode (constant in
 * each instance below); `inl`: the unaligned MAC loop inlined (the usual epilogues). */
static inline __attribute__((__always_inline__)) void
mat_mult_4px_body(const int8_t *w, const int32_t *b, int32_t n_oc, int32_t K,
                  const int16_t *cols, int8_t *out, int32_t pstride, int32_t s, int32_t lo,
                  int32_t hi, const int mode, const int inl)
{
    const int32_t pre = (-K) & 3, nb = (K + 3) >> 2;
    /* per channel: q7 one bias word; s8 (modes 3-5) a record of NN_S8_CHAN words (nn_int8.h) */
    const int32_t bw = mode >= 3 ? NN_S8_CHAN : 1;
    const int32_t *const b0 = b, *const b_end = b + bw * n_oc;
    /* K % 4 != 0: the column's first block starts pre values before the K values, so the inlined
     * loop reads each weight row from pre bytes before its start (the previous row's last
     * weights, against zeros); mac_row takes the rows where that is not allowed, and all rows of
     * the aligned layers of nb >= 48 blocks (LDRD saves 0.75 a block, the call costs ~36 a row:
     * measured on cifar's conv1, nb = 19) and of the rare epilogues; the usual epilogues call
     * mac_1x4_aligned directly (their b_call rows are word-aligned), so a firmware of them links
     * neither mac_row nor mac_1x4_call (-272 B on cifar10_m4). */
#ifdef NN_MM4_RELU
    const int fused = mode == 2 || mode == 5;   /* mm4_relu_* take the rows the inlined loop would */
#else
    const int fused = 0;
#endif
    const int32_t *const b_call = !inl || K < 4 || (pre == 0 && ((uintptr_t)w & 3) == 0 && nb >= 48)
                                  || (fused && nb < 2) ? b_end : pre != 0 ? b + bw : b;
    for (; b != b_call; b += bw, out++, w += K) {
        int32_t acc[4];
        acc[0] = acc[1] = acc[2] = acc[3] = b[0];
        if (inl && pre == 0)   /* here b_call leaves only word-aligned rows: no test, no other loop */
            mac_1x4_aligned(w, cols, nb, acc);
        else
            mac_row(w, K, pre != 0 && (K < 4 || b == b0), cols, acc);
        rq_store4(out, pstride, acc[0], acc[1], acc[2], acc[3], b, s, lo, hi, mode);
    }
#ifdef NN_MM4_RELU
    if (fused) {   /* no inlined loop in this instance: the rows left have nb >= 2 */
        if (b == b_end)
            return;
        if (mode == 2) {
            const nn_mm4_frame f = {cols, MM4_PASSES(nb), 1 << (s - 1), MM4_SKIP(nb, 52u), s, out,
                                    pstride, 3 * pstride, b_end, w, b};
            mm4_relu_q7(&f);
        } else {
            const nn_mm4s8_frame f = {out, pstride, 3 * pstride, b_end, cols, MM4_PASSES(nb),
                                      MM4_SKIP(nb, 52u), w, b};
            mm4_relu_s8(&f);
        }
        return;
    }
#endif
    const int32_t passes = MAC_1X4_PASSES(nb);
    const uint32_t skip = MAC_1X4_SKIP(nb);
    w -= pre;
    for (; b != b_end; b += bw, out++) {
        const int16_t *c = cols;
        int32_t n = passes;
        uint32_t e = skip;
        int32_t a0 = b[0], a1 = a0, a2 = a0, a3 = a0;
        MAC_1X4(w, c, n, e, a0, a1, a2, a3);   /* w ends at the next row's start */
        w -= pre;
        rq_store4(out, pstride, a0, a1, a2, a3, b, s, lo, hi, mode);
    }
}

/* The body specialised per epilogue (no mode test per channel): q7 1: plain int8 output, 2:
 * fused ReLU (nn_round_shift2, SSAT/USAT clamp), 0: anything else through nn_requant; s8 (b:
 * the channel records, nn_int8.h; s: the output zero point) with shifts in -22..-1 (rq_right)
 * 3: no activation, 5: fused relu; 4: anything else through nn_requant_s8. The usual ones (1, 2,
 * 3, 5) inline the MAC loop. K: the weight row's length, a multiple of 4 (the rows of
 * ceil4(K) the generator lays out, kernels/q7_conv2d.py: weight_row); saying so (K & ~3) lets the
 * compiler drop the K % 4 != 0 paths (first_word, the built first rows): 288 B per instance. */
#define NN_MAT_MULT_INSTANCE(name, mode_, inl_)                                                \
    static NN_NOINLINE NN_MAYBE_UNUSED void                                                    \
    name(const int8_t *w, const int32_t *b, int32_t n_oc, int32_t K, const int16_t *cols,      \
         int8_t *out, int32_t pstride, int32_t s, int32_t lo, int32_t hi)                      \
    {                                                                                          \
        mat_mult_4px_body(w, b, n_oc, K & ~3, cols, out, pstride, s, lo, hi, mode_, inl_);     \
    }
NN_MAT_MULT_INSTANCE(mat_mult_4px_requant, 0, 0)
NN_MAT_MULT_INSTANCE(mat_mult_4px_int8, 1, 1)
NN_MAT_MULT_INSTANCE(mat_mult_4px_relu, 2, 1)
NN_MAT_MULT_INSTANCE(mat_mult_4px_s8_int8, 3, 1)
NN_MAT_MULT_INSTANCE(mat_mult_4px_s8, 4, 0)
NN_MAT_MULT_INSTANCE(mat_mult_4px_s8_relu, 5, 1)

typedef void (*nn_mat_mult_fn)(const int8_t *, const int32_t *, int32_t, int32_t,
                               const int16_t *, int8_t *, int32_t, int32_t, int32_t, int32_t);

/* The q7 instance for a whole call. */
static NN_MAYBE_UNUSED nn_mat_mult_fn nn_conv_q7_mode(int32_t s, int32_t lo, int32_t hi)
{
    const int mode = s < 2 || s > 31 ? 0 : (hi != 127 ? 0 : (lo == -128 ? 1 : (lo == 0 ? 2 : 0)));
    return mode == 1 ? mat_mult_4px_int8 : mode == 2 ? mat_mult_4px_relu : mat_mult_4px_requant;
}

/* A last quad of fewer than four pixels: the missing columns repeat the last pixel's (the
 * im2col of the caller), their outputs go to a stack buffer and are dropped. */
static NN_MAYBE_UNUSED void mat_mult_tail(nn_mat_mult_fn f, const int8_t *w, const int32_t *b,
                                          int32_t n_oc, int32_t K, const int16_t *cols,
                                          int8_t *out, int32_t pstride, int32_t npx, int32_t s,
                                          int32_t lo, int32_t hi, int32_t bw)
{
    int8_t tmp[4 * 16];
    int32_t o0, o, p;
    for (o0 = 0; o0 < n_oc; o0 += 16) {
        const int32_t m = n_oc - o0 < 16 ? n_oc - o0 : 16;
        f(w + o0 * K, b + o0 * bw, m, K, cols, tmp, 16, s, lo, hi);
        for (p = 0; p < npx; p++)
            for (o = 0; o < m; o++)
                out[p * pstride + o0 + o] = tmp[p * 16 + o];
    }
}

/* The s8 epilogue instance for a whole call: 3 / 5 when every shift lies in -22..-1 and the
 * range is int8's / a fused relu's ([zp, 127]), else 4. */
static NN_MAYBE_UNUSED int nn_conv_s8_mode(const int32_t *chan, int32_t n, int32_t zp,
                                           int32_t lo, int32_t hi)
{
    int32_t o;
    for (o = 0; o < n; o++, chan += NN_S8_CHAN)
        if (chan[2] >= 0 || chan[2] < -22 || chan[3] != rq_addend(-chan[2], zp))
            return 4;
    return hi != 127 ? 4 : lo == zp ? 5 : lo == -128 ? 3 : 4;   /* 5 is cheaper: lo == zp first */
}

#endif
