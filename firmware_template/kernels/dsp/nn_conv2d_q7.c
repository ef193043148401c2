/* 2-D convolution, q7, DSP variant (docs/q7_contract.md: conv2d). Same bytes as ref/.
 *
 * Two loops (nn_conv2d_q7 picks one, like CMSIS-NN's arm_convolve_wrapper_s8):
 *   - depthwise (one input channel per group, any channel multiplier): direct, window clipped
 *     once per output pixel so the tap loop has no bounds tests (common/nn_conv_common.h);
 *   - general: per group, output pixels go in pairs; im2col widens each pixel's window to an
 *     int16 column (the two columns interleaved in the scratch, ceil(K / 4) blocks with the K % 4
 *     gap as leading zeros, common/nn_dsp.h; pairs inside the input build both columns in one
 *     pass), then a mat-mult computes 2 output channels x 2 output pixels per pass with SMLAD:
 *     4 accumulators, each weight word (SXTB16, SXTB16 ROR 8) and column word loaded once per
 *     4 MACs, no tail loop.
 * Both accumulate exactly in int32 (only the order of the additions differs from ref/) and
 * requantise identically.
 */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_conv_common.h"

/* Stack bytes for gathering a small column in natural int8 order before widening it. */
#define NN_STAGE_MAX 256

/* Copy a short run (memcpy's call costs more than the copy; unaligned word access is fine on
 * every core with the DSP extension). */
static inline void copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        nn_write32(dst, nn_read32(src));
        NN_AFTER(dst, n);  /* keeps GCC from turning this loop into a memcpy call */
    }
    for (; n > 0; n--)
        *dst++ = *src++;
}

/* Widen a gathered int8 column of K values, with (-K) & 3 zeros in front, into the interleaved
 * pair layout (col0: dst = scratch, col1: dst = scratch + 2). */
static void widen_pair(int16_t *dst, const int8_t *src, int32_t K)
{
    int32_t i;
    for (i = (K + 3) >> 2; i > 0; i--, src += 4, dst += NN_COLW_STEP)
        nn_colw_block(dst, nn_read32(src));
}

/* Column of output pixel (oy, ox), group g: K = k_h*k_w*cin_g values in (ky, kx, c) order,
 * after (-K) & 3 zeros (whole blocks), written into the interleaved pair layout at dst (col0:
 * scratch, col1: scratch + 2).
 * Small columns whose channel runs do not start on 4-value blocks (e.g. RGB input) are gathered
 * on the stack and widened in one aligned pass; the others go through the byte-stream writer,
 * whose word path handles aligned runs at full speed. */
static void im2col(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox, int32_t g,
                   int32_t cin_g, int16_t *dst)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, row_len = KW * cin_g;
    const int32_t K = p->k_h * row_len;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t dense = p->dil_w == 1 && cin_g == C;
    int32_t kx0, kx1, ky;
    tap_range(ix0, KW, p->dil_w, W, &kx0, &kx1);
    if ((cin_g & 3) != 0 && K <= NN_STAGE_MAX) {
        int8_t stage[NN_STAGE_MAX + 4] __attribute__((aligned(4)));
        int8_t *at = stage + ((-K) & 3);
        nn_write32(stage, 0);  /* the padding in front of the first block */
        if (dense && kx0 == 0 && kx1 == KW && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
            /* interior pixel (the common case): every kernel row is one full input run */
            const int8_t *src = in + (iy0 * W + ix0) * C;
            const int32_t row_step = p->dil_h * W * C;
            for (ky = 0; ky < p->k_h; ky++, at += row_len, src += row_step)
                copy_run(at, src, row_len);
            widen_pair(dst, stage, K);
            return;
        }
        /* border pixel: zero the whole stage by words (cheaper than a memset call per gap),
         * then copy the valid taps */
        {
            int32_t i;
            for (i = 4; i < K; i += 4) {
                nn_write32(stage + i, 0);
                NN_AFTER(i, i);
            }
        }
        if (kx0 < kx1) {
            for (ky = 0; ky < p->k_h; ky++, at += row_len) {
                const int32_t iy = iy0 + ky * p->dil_h;
                const int8_t *src;
                int32_t kx;
                if (iy < 0 || iy >= p->in_h)
                    continue;
                src = in + (iy * W + ix0 + kx0 * p->dil_w) * C + g * cin_g;  /* first valid tap */
                if (dense) {
                    copy_run(at + kx0 * C, src, (kx1 - kx0) * C);
                } else {
                    for (kx = kx0; kx < kx1; kx++, src += p->dil_w * C)
                        copy_run(at + kx * cin_g, src, cin_g);
                }
            }
        }
        widen_pair(dst, stage, K);
        return;
    }
    {
        nn_colw w;
        nn_colw_init(&w, dst);
        nn_colw_zero(&w, (-K) & 3);
        for (ky = 0; ky < p->k_h; ky++) {
            const int32_t iy = iy0 + ky * p->dil_h;
            const int8_t *src;
            int32_t kx;
            if (iy < 0 || iy >= p->in_h || kx0 >= kx1) {
                nn_colw_zero(&w, row_len);
                continue;
            }
            src = in + (iy * W + ix0 + kx0 * p->dil_w) * C + g * cin_g;
            if (kx0 > 0)
                nn_colw_zero(&w, kx0 * cin_g);
            if (dense) {
                /* the valid part of the kernel row is one contiguous run of the input row */
                nn_colw_put(&w, src, (kx1 - kx0) * C);
            } else {
                for (kx = kx0; kx < kx1; kx++, src += p->dil_w * C)
                    nn_colw_put(&w, src, cin_g);
            }
            if (kx1 < KW)
                nn_colw_zero(&w, (KW - kx1) * cin_g);
        }
        nn_colw_end(&w);
    }
}

/* Both columns of two pixels in one output row whose windows lie inside the input, for dense
 * layers with in_c % 4 == 0 (each kernel row is row_blocks whole blocks of one input run; the
 * second pixel's run starts dx bytes later): the four words of a block are written together, two
 * blocks per pass. */
static void im2col_pair_interior(const int8_t *src, int32_t dx, int32_t row_step, int32_t k_h,
                                 int32_t row_blocks, int16_t *dst)
{
    int32_t ky, n;
    for (ky = 0; ky < k_h; ky++, src += row_step) {
        const int8_t *s = src;
        if (row_blocks & 1) {
            const uint32_t x0 = nn_read32(s), x1 = nn_read32(s + dx);
            nn_write32(dst, nn_sxtb16(x0));
            nn_write32(dst + 2, nn_sxtb16(x1));
            nn_write32(dst + 4, nn_sxtb16_ror8(x0));
            nn_write32(dst + 6, nn_sxtb16_ror8(x1));
            s += 4;
            dst += NN_COLW_STEP;
        }
        for (n = row_blocks >> 1; n > 0; n--, s += 8, dst += 2 * NN_COLW_STEP) {
            const uint32_t x0 = nn_read32(s), x1 = nn_read32(s + dx);
            const uint32_t y0 = nn_read32(s + 4), y1 = nn_read32(s + 4 + dx);
            nn_write32(dst, nn_sxtb16(x0));
            nn_write32(dst + 2, nn_sxtb16(x1));
            nn_write32(dst + 4, nn_sxtb16_ror8(x0));
            nn_write32(dst + 6, nn_sxtb16_ror8(x1));
            nn_write32(dst + 8, nn_sxtb16(y0));
            nn_write32(dst + 10, nn_sxtb16(y1));
            nn_write32(dst + 12, nn_sxtb16_ror8(y0));
            nn_write32(dst + 14, nn_sxtb16_ror8(y1));
        }
    }
}

/* Copy two runs of n >= 4 bytes (src and src + dx to d0 and d1) by words, the last word ending
 * at the runs' last byte (it may overlap the previous one): nothing is read or written outside
 * the runs. */
static inline void copy_runs_words(int8_t *d0, int8_t *d1, const int8_t *src, int32_t dx,
                                   int32_t n)
{
    const int32_t last = n - 4;
    int32_t i;
    for (i = 0; i < last; i += 4) {
        const uint32_t a = nn_read32(src + i), b = nn_read32(src + dx + i);
        nn_write32(d0 + i, a);
        nn_write32(d1 + i, b);
        NN_AFTER(d0, i);  /* keeps GCC from turning this loop into memcpy calls */
    }
    nn_write32(d0 + last, nn_read32(src + last));
    nn_write32(d1 + last, nn_read32(src + dx + last));
}

/* Like im2col_pair_interior for small columns whose blocks do not line up with the kernel rows
 * (e.g. RGB input): each pixel's window is gathered on the stack (rows of row_len >= 4 bytes,
 * K <= NN_STAGE_MAX, (-K) & 3 zeros in front), then both are widened in one pass. */
static void im2col_pair_small_interior(const int8_t *src, int32_t dx, int32_t row_step,
                                       int32_t k_h, int32_t row_len, int32_t K, int16_t *dst)
{
    int8_t st0[NN_STAGE_MAX + 4] __attribute__((aligned(4)));
    int8_t st1[NN_STAGE_MAX + 4] __attribute__((aligned(4)));
    int32_t ky, at, b;
    nn_write32(st0, 0);
    nn_write32(st1, 0);
    for (ky = 0, at = (-K) & 3; ky < k_h; ky++, at += row_len, src += row_step) {
        copy_runs_words(st0 + at, st1 + at, src, dx, row_len);
    }
    for (b = 0; b < K; b += 4, dst += NN_COLW_STEP) {   /* ceil(K / 4) blocks */
        const uint32_t x0 = nn_read32_aligned(st0 + b), x1 = nn_read32_aligned(st1 + b);
        nn_write32(dst, nn_sxtb16(x0));
        nn_write32(dst + 2, nn_sxtb16(x1));
        nn_write32(dst + 4, nn_sxtb16_ror8(x0));
        nn_write32(dst + 6, nn_sxtb16_ror8(x1));
    }
}

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
    const int32_t *const b_end = b + 2 * pairs;
    const int8_t *w0 = w;
    /* K % 4 != 0: the column's first block starts pre values before the K values, so the loop
     * reads each weight row from pre bytes before its start (the previous row's last weights,
     * against zeros). Only the first pair, whose first row may start the weight array, and
     * rows shorter than a block build their first block's words instead. */
    int shifted = pre != 0;
    for (; b != b_end; b += 2, out0 += 2) {
        const int8_t *w1 = w0 + K;
        const int16_t *c = cols;
        int32_t s00 = b[0], s01 = s00, s10 = b[1], s11 = s10, n = nb;
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

static void mat_mult_2px(const int8_t *w, const int32_t *b, int32_t pairs, int32_t K,
                         const int16_t *cols, int8_t *out0, int8_t *out1, int32_t s, int32_t lo,
                         int32_t hi)
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
static void mat_mult(const int8_t *wg, const int32_t *bg, int32_t cout_g, int32_t K,
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

/* Every kernel row of output row oy lies inside the input. */
static inline int iy_ok(const nn_conv_params *p, int32_t oy)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    return iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h;
}

static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * cin_g, npix = p->out_h * p->out_w;
    /* scratch (4-byte aligned): the two columns interleaved, 8 * ceil(K / 4) int16 */
    /* pixel pairs inside the input of dense layers: im2col_pair_interior (1: whole blocks per
     * kernel row) or im2col_pair_small_interior (2); 0: im2col per pixel */
    const int fast = G != 1 || p->dil_w != 1 ? 0
                   : (cin_g & 3) == 0 ? 1
                   : K <= NN_STAGE_MAX && p->k_w * cin_g >= 4 ? 2 : 0;
    int32_t g, q;

    for (g = 0; g < G; g++) {
        const int8_t *wg = weight + g * cout_g * K;
        const int32_t *bg = bias + g * cout_g;
        int8_t *og = out + g * cout_g;
        int32_t oy = 0, ox = 0;
        for (q = 0; q + 1 < npix; q += 2) {
            int32_t oy1 = oy, ox1 = ox + 1;
            if (ox1 == p->out_w) {
                ox1 = 0;
                oy1++;
            }
            if (fast != 0 && oy1 == oy && iy_ok(p, oy) && ox * p->stride_w >= p->pad_w
                && ox1 * p->stride_w - p->pad_w + p->k_w <= p->in_w) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
                const int8_t *src = in + (iy0 * p->in_w + ix0) * cin_g;
                const int32_t dx = p->stride_w * cin_g, row_step = p->dil_h * p->in_w * cin_g;
                if (fast == 1)
                    im2col_pair_interior(src, dx, row_step, p->k_h, (p->k_w * cin_g) >> 2, scratch);
                else
                    im2col_pair_small_interior(src, dx, row_step, p->k_h, p->k_w * cin_g, K,
                                               scratch);
            } else {
                im2col(p, in, oy, ox, g, cin_g, scratch);
                im2col(p, in, oy1, ox1, g, cin_g, scratch + 2);
            }
            mat_mult(wg, bg, cout_g, K, scratch, 0, og + q * OC, og + (q + 1) * OC,
                     p->out_shift, p->act_min, p->act_max);
            ox = ox1 + 1;
            oy = oy1;
            if (ox == p->out_w) {
                ox = 0;
                oy++;
            }
        }
        if (q < npix) {
            im2col(p, in, oy, ox, g, cin_g, scratch);
            mat_mult(wg, bg, cout_g, K, scratch, 1, og + q * OC, og + q * OC,
                     p->out_shift, p->act_min, p->act_max);
        }
    }
}

void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise(p, in, weight, bias, out);
    else
        conv_general(p, in, weight, bias, out, scratch);
}

int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return nn_conv_scratch_contract(p);
}
