/* Internal to dsp/nn_conv2d_q7.c and nn_conv2d_s8.c: the SMLAD mat-mult over interleaved
 * column pairs (2 output channels x 2 pixels per pass; a hand-scheduled loop on ARM, the same
 * computation in C for NN_EMULATE_DSP), and its 1-channel tail; the epilogue is q7's shift or
 * s8's per-channel MultiplyByQuantizedMultiplier (modes 3-5). Static functions in a header
 * included once, by each of those files: the compiler sees them exactly as if they were written
 * there. */
#ifndef NN_CONV_MAT_MULT_H
#define NN_CONV_MAT_MULT_H

#include "nn_dsp.h"
#include "nn_int8.h"

/* (s00, s01, s10, s11) += 2 filters (w0, w1) x the 2 interleaved columns at c, over n >= 0
 * blocks of 4 K: per block 2 weight words, 4 column words, 4 SXTB16, 8 SMLAD = 16 MACs. */
#if defined(__ARM_FEATURE_DSP) && !defined(NN_EMULATE_DSP) && defined(__GNUC__)
/* Hand-scheduled on ARM: GCC 12 neither folds the rotation into SXTB16 nor pairs the column
 * loads into post-indexed LDRDs, and spills inside this loop; here 16 instructions per block,
 * unrolled 8 times (n % 8 blocks first: bit 0 by TST, bits 1 and 2 from the flags of one shift,
 * N and C), so 16.25 per 16 MACs. The C version below is the same computation (it runs on the
 * host with NN_EMULATE_DSP). */
#define MAC_2X2_BLOCK_ASM                                                                      \
    "ldr    %[x0], [%[w0]], #4\n\t"                                                            \
    "ldr    %[x1], [%[w1]], #4\n\t"                                                            \
    "ldrd   %[ca], %[cb], [%[c]], #8\n\t"                                                      \
    "sxtb16 %[w], %[x0]\n\t"                                                                   \
    "smlad  %[s00], %[w], %[ca], %[s00]\n\t"                                                   \
    "smlad  %[s01], %[w], %[cb], %[s01]\n\t"                                                   \
    "sxtb16 %[w], %[x1]\n\t"                                                                   \
    "smlad  %[s10], %[w], %[ca], %[s10]\n\t"                                                   \
    "smlad  %[s11], %[w], %[cb], %[s11]\n\t"                                                   \
    "ldrd   %[ca], %[cb], [%[c]], #8\n\t"                                                      \
    "sxtb16 %[w], %[x0], ror #8\n\t"                                                           \
    "smlad  %[s00], %[w], %[ca], %[s00]\n\t"                                                   \
    "smlad  %[s01], %[w], %[cb], %[s01]\n\t"                                                   \
    "sxtb16 %[w], %[x1], ror #8\n\t"                                                           \
    "smlad  %[s10], %[w], %[ca], %[s10]\n\t"                                                   \
    "smlad  %[s11], %[w], %[cb], %[s11]\n\t"
#define MAC_2X2(w0, w1, c, n, s00, s01, s10, s11)                                              \
    do {                                                                                       \
        uint32_t x0_, x1_, ca_, cb_, w_;                                                       \
        __asm__ volatile(                                                                      \
            "tst    %[n], #1\n\t"                                                          \
            "beq    2f\n\t"                                                                    \
            MAC_2X2_BLOCK_ASM                                                                  \
            "2:\n\t"                                                                           \
            "lsls   %[w], %[n], #30\n\t"                                                       \
            "bpl    3f\n\t"                                                                    \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            "3:\n\t"                                                                           \
            "bcc    4f\n\t"                                                                    \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            "4:\n\t"                                                                           \
            "lsrs   %[n], %[n], #3\n\t"                                                        \
            "beq    6f\n\t"                                                                    \
            "5:\n\t"                                                                           \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            MAC_2X2_BLOCK_ASM                                                                  \
            "subs   %[n], %[n], #1\n\t"                                                        \
            "bne    5b\n\t"                                                                    \
            "6:\n\t"                                                                           \
            : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11),              \
              [w0] "+r"(w0), [w1] "+r"(w1), [c] "+r"(c), [n] "+r"(n), [x0] "=&r"(x0_),         \
              [x1] "=&r"(x1_), [ca] "=&r"(ca_), [cb] "=&r"(cb_), [w] "=&r"(w_)                  \
            :                                                                                  \
            : "cc", "memory");                                                                 \
    } while (0)
#else
#define MAC_2X2(w0, w1, c, n, s00, s01, s10, s11)                                              \
    do {                                                                                       \
        for (; n > 0; n--) {                                                                   \
            MAC_2X2_WORDS(nn_read32(w0), nn_read32(w1), c, s00, s01, s10, s11);                \
            c += 8;                                                                            \
            w0 += 4;                                                                           \
            w1 += 4;                                                                           \
        }                                                                                      \
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

/* One block: weight words x0 (filter 0) and x1 (filter 1) x the interleaved columns at c. */
#define MAC_2X2_WORDS(x0, x1, c, s00, s01, s10, s11)                                           \
    do {                                                                                       \
        const uint32_t x0_ = (x0), x1_ = (x1);                                                 \
        const int16_t *c_ = (c);                                                               \
        uint32_t ca_ = nn_read32_aligned(c_), cb_ = nn_read32_aligned(c_ + 2), w_;             \
        w_ = nn_sxtb16(x0_);                                                                   \
        s00 = nn_smlad(w_, ca_, s00);                                                          \
        s01 = nn_smlad(w_, cb_, s01);                                                          \
        w_ = nn_sxtb16(x1_);                                                                   \
        s10 = nn_smlad(w_, ca_, s10);                                                          \
        s11 = nn_smlad(w_, cb_, s11);                                                          \
        NN_AFTER(c_, s11);                                                                     \
        ca_ = nn_read32_aligned(c_ + 4);                                                       \
        cb_ = nn_read32_aligned(c_ + 6);                                                       \
        w_ = nn_sxtb16_ror8(x0_);                                                              \
        s00 = nn_smlad(w_, ca_, s00);                                                          \
        s01 = nn_smlad(w_, cb_, s01);                                                          \
        w_ = nn_sxtb16_ror8(x1_);                                                              \
        s10 = nn_smlad(w_, ca_, s10);                                                          \
        s11 = nn_smlad(w_, cb_, s11);                                                          \
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

/* `pairs` pairs of output channels (weight rows from w, bias from b) for two pixels whose columns
 * are interleaved at `cols` (ceil(K / 4) blocks). Instances are kept out of line so the MAC loop
 * gets the registers; per pair: MAC_2X2 over ceil(K / 4) blocks, 4 requantisations in the
 * given mode (constant in each instance below). */
static inline __attribute__((__always_inline__)) void
mat_mult_2px_body(const int8_t *w, const int32_t *b, int32_t pairs, int32_t K,
                  const int16_t *cols, int8_t *out0, int8_t *out1, int32_t s, int32_t lo,
                  int32_t hi, const int mode)
{
    /* few values live across the MAC loop (they are reloaded from the stack): the next pair's
     * first weight row follows the current second row, out1 is a fixed distance from out0 */
    const int32_t pre = (-K) & 3, nb = (K + 3) >> 2, sm1 = s - 1, d = (int32_t)(out1 - out0);
    /* per channel: q7 one bias word; s8 (modes 3-5) a record of NN_S8_CHAN words (nn_int8.h) */
    const int32_t bw = mode >= 3 ? NN_S8_CHAN : 1;
    const int32_t *const b_end = b + 2 * bw * pairs;
    const int8_t *w0 = w;
    /* K % 4 != 0: the column's first block starts pre values before the K values, so the loop
     * reads each weight row from pre bytes before its start (the previous row's last weights,
     * against zeros). Only the first pair, whose first row may start the weight array, and
     * rows shorter than a block build their first block's words instead. */
    int shifted = pre != 0;
    for (; b != b_end; b += 2 * bw, out0 += 2) {
        const int8_t *w1 = w0 + K;
        const int16_t *c = cols;
        int32_t s00 = b[0], s01 = s00, s10 = b[bw], s11 = s10, n = nb;
        if (shifted) {
            MAC_2X2_WORDS(first_word(w0, pre, K), first_word(w1, pre, K), c, s00, s01, s10, s11);
            c += NN_COLW_STEP;
            w0 += 4 - pre;
            w1 += 4 - pre;
            n--;
            shifted = K < 4;
        } else {
            w0 -= pre;
            w1 -= pre;
        }
        MAC_2X2(w0, w1, c, n, s00, s01, s10, s11);
        w0 = w1;   /* the second row's end: the next pair's first row */
        out1 = out0 + d;
        if (mode == 1) {
            out0[0] = (int8_t)nn_ssat8(nn_round_shift2(s00, sm1));
            out0[1] = (int8_t)nn_ssat8(nn_round_shift2(s10, sm1));
            out1[0] = (int8_t)nn_ssat8(nn_round_shift2(s01, sm1));
            out1[1] = (int8_t)nn_ssat8(nn_round_shift2(s11, sm1));
        } else if (mode == 2) {
            out0[0] = (int8_t)nn_usat7(nn_round_shift2(s00, sm1));
            out0[1] = (int8_t)nn_usat7(nn_round_shift2(s10, sm1));
            out1[0] = (int8_t)nn_usat7(nn_round_shift2(s01, sm1));
            out1[1] = (int8_t)nn_usat7(nn_round_shift2(s11, sm1));
        } else if (mode == 3 || mode == 5) {   /* s8, shifts in -22..-1: s is the output zp */
            const int32_t m0 = b[1], e0 = -b[2], a0 = b[3];
            const int32_t m1 = b[NN_S8_CHAN + 1], e1 = -b[NN_S8_CHAN + 2], a1 = b[NN_S8_CHAN + 3];
            if (mode == 3) {
                out0[0] = (int8_t)nn_ssat8(rq_right(s00, m0, e0, a0));
                out1[0] = (int8_t)nn_ssat8(rq_right(s01, m0, e0, a0));
                out0[1] = (int8_t)nn_ssat8(rq_right(s10, m1, e1, a1));
                out1[1] = (int8_t)nn_ssat8(rq_right(s11, m1, e1, a1));
            } else {
                out0[0] = (int8_t)nn_ssat8(rq_right_relu(s00, m0, e0, a0));
                out1[0] = (int8_t)nn_ssat8(rq_right_relu(s01, m0, e0, a0));
                out0[1] = (int8_t)nn_ssat8(rq_right_relu(s10, m1, e1, a1));
                out1[1] = (int8_t)nn_ssat8(rq_right_relu(s11, m1, e1, a1));
            }
        } else if (mode == 4) {   /* s8, any shift and range */
            /* into locals first: int8 stores may alias the channel records, forcing reloads */
            int8_t y00, y01, y10, y11;
            nn_requant2_s8(s00, s01, b[1], b[2], s, lo, hi, &y00, &y01);
            nn_requant2_s8(s10, s11, b[NN_S8_CHAN + 1], b[NN_S8_CHAN + 2], s, lo, hi, &y10, &y11);
            out0[0] = y00;
            out1[0] = y01;
            out0[1] = y10;
            out1[1] = y11;
        } else {
            out0[0] = (int8_t)nn_requant(s00, s, lo, hi);
            out0[1] = (int8_t)nn_requant(s10, s, lo, hi);
            out1[0] = (int8_t)nn_requant(s01, s, lo, hi);
            out1[1] = (int8_t)nn_requant(s11, s, lo, hi);
        }
    }
}

/* The body specialised per epilogue (no mode test per pair): the usual epilogues without
 * branches (nn_round_shift2, SSAT/USAT clamp), 1: plain int8 output, 2: fused ReLU; 0: anything
 * else through nn_requant. */
static NN_NOINLINE void mat_mult_2px_requant(const int8_t *w, const int32_t *b, int32_t pairs,
                                             int32_t K, const int16_t *cols, int8_t *out0,
                                             int8_t *out1, int32_t s, int32_t lo, int32_t hi)
{
    mat_mult_2px_body(w, b, pairs, K, cols, out0, out1, s, lo, hi, 0);
}

static NN_NOINLINE void mat_mult_2px_int8(const int8_t *w, const int32_t *b, int32_t pairs,
                                          int32_t K, const int16_t *cols, int8_t *out0,
                                          int8_t *out1, int32_t s)
{
    mat_mult_2px_body(w, b, pairs, K, cols, out0, out1, s, -128, 127, 1);
}

static NN_NOINLINE void mat_mult_2px_relu(const int8_t *w, const int32_t *b, int32_t pairs,
                                          int32_t K, const int16_t *cols, int8_t *out0,
                                          int8_t *out1, int32_t s)
{
    mat_mult_2px_body(w, b, pairs, K, cols, out0, out1, s, 0, 127, 2);
}

/* s8 instances (chan: the channel records, nn_int8.h). With shifts in -22..-1 (rq_right):
 * 3, no activation; 5, fused relu. 4: anything else through nn_requant2_s8. */
static NN_NOINLINE NN_MAYBE_UNUSED void
mat_mult_2px_s8_int8(const int8_t *w, const int32_t *chan, int32_t pairs, int32_t K,
                     const int16_t *cols, int8_t *out0, int8_t *out1, int32_t zp)
{
    mat_mult_2px_body(w, chan, pairs, K, cols, out0, out1, zp, -128, 127, 3);
}

static NN_NOINLINE NN_MAYBE_UNUSED void
mat_mult_2px_s8_relu(const int8_t *w, const int32_t *chan, int32_t pairs, int32_t K,
                     const int16_t *cols, int8_t *out0, int8_t *out1, int32_t zp)
{
    mat_mult_2px_body(w, chan, pairs, K, cols, out0, out1, zp, zp, 127, 5);
}

static NN_NOINLINE NN_MAYBE_UNUSED void
mat_mult_2px_s8(const int8_t *w, const int32_t *chan, int32_t pairs, int32_t K,
                const int16_t *cols, int8_t *out0, int8_t *out1, int32_t zp, int32_t lo,
                int32_t hi)
{
    mat_mult_2px_body(w, chan, pairs, K, cols, out0, out1, zp, lo, hi, 4);
}

static NN_MAYBE_UNUSED void mat_mult_2px(const int8_t *w, const int32_t *b, int32_t pairs,
                                         int32_t K, const int16_t *cols, int8_t *out0,
                                         int8_t *out1, int32_t s, int32_t lo, int32_t hi)
{
    const int mode = s < 2 || s > 31 ? 0 : (hi != 127 ? 0 : (lo == -128 ? 1 : (lo == 0 ? 2 : 0)));
    if (mode == 1)
        mat_mult_2px_int8(w, b, pairs, K, cols, out0, out1, s);
    else if (mode == 2)
        mat_mult_2px_relu(w, b, pairs, K, cols, out0, out1, s);
    else
        mat_mult_2px_requant(w, b, pairs, K, cols, out0, out1, s, lo, hi);
}

/* One output channel (weight row w0) over the interleaved columns at cols (ceil(K / 4) blocks):
 * *a0 += it x col0, *a1 += it x col1. */
static void mac_1ch(const int8_t *w0, int32_t K, const int16_t *cols, int32_t *a0, int32_t *a1)
{
    const int32_t pre = (-K) & 3;
    int32_t s00 = *a0, s01 = *a1, n;
    if (pre != 0) {   /* the first block, as in mat_mult_2px_body */
        const uint32_t x0 = first_word(w0, pre, K);
        uint32_t w = nn_sxtb16(x0);
        s00 = nn_smlad(w, nn_read32_aligned(cols), s00);
        s01 = nn_smlad(w, nn_read32_aligned(cols + 2), s01);
        w = nn_sxtb16_ror8(x0);
        s00 = nn_smlad(w, nn_read32_aligned(cols + 4), s00);
        s01 = nn_smlad(w, nn_read32_aligned(cols + 6), s01);
        w0 += 4 - pre;
        cols += NN_COLW_STEP;
    }
    for (n = K >> 2; n > 0; n--, w0 += 4, cols += 8) {
        const uint32_t x0 = nn_read32(w0);
        uint32_t w = nn_sxtb16(x0);
        s00 = nn_smlad(w, nn_read32_aligned(cols), s00);
        s01 = nn_smlad(w, nn_read32_aligned(cols + 2), s01);
        w = nn_sxtb16_ror8(x0);
        s00 = nn_smlad(w, nn_read32_aligned(cols + 4), s00);
        s01 = nn_smlad(w, nn_read32_aligned(cols + 6), s01);
    }
    *a0 = s00;
    *a1 = s01;
}

/* Output channels of one group for two pixels whose columns are interleaved at `cols`;
 * one == 1: only the first pixel (out1 unused; col1 is computed on stale data and dropped). */
static NN_MAYBE_UNUSED void mat_mult(const int8_t *wg, const int32_t *bg, int32_t cout_g, int32_t K,
                     const int16_t *cols, int one, int8_t *out0, int8_t *out1, int32_t s,
                     int32_t lo, int32_t hi)
{
    int32_t o = 0;
    if (!one) {
        o = cout_g & ~1;
        mat_mult_2px(wg, bg, cout_g >> 1, K, cols, out0, out1, s, lo, hi);
    }
    for (; o < cout_g; o++) {
        int32_t s00 = bg[o], s01 = s00;
        mac_1ch(wg + o * K, K, cols, &s00, &s01);
        out0[o] = (int8_t)nn_requant(s00, s, lo, hi);
        if (!one)
            out1[o] = (int8_t)nn_requant(s01, s, lo, hi);
    }
}

/* mat_mult with s8's epilogue: the channel records of this group (cg), output zero point;
 * mode (nn_conv_s8_mode, once per call): 3 or 5 for the fast instances, else 4. */
static NN_MAYBE_UNUSED void mat_mult_s8(const int8_t *wg, const int32_t *cg, int32_t cout_g,
                                        int32_t K, const int16_t *cols, int one, int8_t *out0,
                                        int8_t *out1, int32_t zp, int32_t lo, int32_t hi,
                                        int mode)
{
    int32_t o = 0;
    if (!one) {
        o = cout_g & ~1;
        if (mode == 3)
            mat_mult_2px_s8_int8(wg, cg, cout_g >> 1, K, cols, out0, out1, zp);
        else if (mode == 5)
            mat_mult_2px_s8_relu(wg, cg, cout_g >> 1, K, cols, out0, out1, zp);
        else
            mat_mult_2px_s8(wg, cg, cout_g >> 1, K, cols, out0, out1, zp, lo, hi);
    }
    for (; o < cout_g; o++) {
        const int32_t *c = cg + NN_S8_CHAN * o;
        int32_t s00 = c[0], s01 = s00;
        int8_t y0, y1;
        mac_1ch(wg + o * K, K, cols, &s00, &s01);
        nn_requant2_s8(s00, s01, c[1], c[2], zp, lo, hi, &y0, &y1);
        out0[o] = y0;
        if (!one)
            out1[o] = y1;
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
