/* Internal to dsp/nn_conv2d_q7.c and nn_conv2d_s8.c: im2col into the interleaved int16
 * four-column layout of common/nn_dsp.h (one pixel's column at a time, or the four columns of an
 * interior pixel quad in one pass). Static functions in a header included once, by each of those files: the
 * compiler sees them exactly as if they were written there. */
#ifndef NN_CONV_IM2COL_H
#define NN_CONV_IM2COL_H

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
 * layout (column p: dst = scratch + 2 p). */
static void widen_col(int16_t *dst, const int8_t *src, int32_t K)
{
    int32_t i;
    for (i = (K + 3) >> 2; i > 0; i--, src += 4, dst += NN_COLW_STEP)
        nn_colw_block(dst, nn_read32(src));
}

/* Padding taps: pad4 is the padding byte in all four bytes (q7: 0; s8: in_zp, real 0). The
 * (-K) & 3 zeros in front of a column stay zeros (they meet the previous weight row). */
static inline void colw_pad(nn_colw *w, int32_t n, uint32_t pad4)
{
    if (pad4 == 0)
        nn_colw_zero(w, n);
    else
        nn_colw_fill(w, n, pad4);
}

/* The window of output pixel (oy, ox), group g, gathered in natural int8 order at stage:
 * (-K) & 3 zeros, then K = k_h*k_w*cin_g values in (ky, kx, c) order, padding taps holding the
 * byte of pad4 (q7: 0; s8: in_zp, which the folded bias expects). A window inside the input of
 * a dense layer is copied by whole kernel rows; any other gets the padding fill (by words:
 * cheaper than a memset call per gap), then its valid taps. The one copy of this gather, for
 * im2col's single columns and the quads im2col_quad_small cannot build by rows. */
static void stage_window(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                         int32_t g, int32_t cin_g, int32_t K, int8_t *stage, uint32_t pad4)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, row_len = KW * cin_g;
    const int32_t pre = (-K) & 3, dense = p->dil_w == 1 && cin_g == C;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    int8_t *at = stage + pre;
    int32_t kx0, kx1, ky, i;
    nn_write32(stage, pad4 << (8 * pre));   /* zeros in front of the first block */
    tap_range(ix0, KW, p->dil_w, W, &kx0, &kx1);
    if (dense && kx0 == 0 && kx1 == KW && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
        /* interior pixel (the common case): every kernel row is one full input run */
        const int8_t *src = in + (iy0 * W + ix0) * C;
        for (ky = 0; ky < p->k_h; ky++, at += row_len, src += p->dil_h * W * C)
            copy_run(at, src, row_len);
        return;
    }
    for (i = 4; i < K + pre; i += 4) {
        nn_write32(stage + i, pad4);
        NN_AFTER(i, i);
    }
    if (kx0 >= kx1)
        return;
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

/* Column of output pixel (oy, ox), group g: K = k_h*k_w*cin_g values in (ky, kx, c) order,
 * after (-K) & 3 zeros (whole blocks), written into the interleaved layout at dst (column p:
 * scratch + 2 p); padding taps hold the byte of pad4 (q7: 0; s8: in_zp, which
 * the folded bias expects). q7 passes the constant 0, so GCC specialises it (constprop) into
 * the code it had before s8 existed.
 * Small columns whose channel runs do not start on 4-value blocks (e.g. RGB input) are gathered
 * on the stack (stage_window) and widened in one aligned pass; the others go through the
 * byte-stream writer, whose word path handles aligned runs at full speed. */
static NN_MAYBE_UNUSED void im2col(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox, int32_t g,
                   int32_t cin_g, int16_t *dst, uint32_t pad4)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, row_len = KW * cin_g;
    const int32_t K = p->k_h * row_len;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t dense = p->dil_w == 1 && cin_g == C;
    int32_t kx0, kx1, ky;
    if ((cin_g & 3) != 0 && K <= NN_STAGE_MAX) {
        int8_t stage[NN_STAGE_MAX + 4] __attribute__((aligned(4)));
        stage_window(p, in, oy, ox, g, cin_g, K, stage, pad4);
        widen_col(dst, stage, K);
        return;
    }
    tap_range(ix0, KW, p->dil_w, W, &kx0, &kx1);
    {
        nn_colw w;
        nn_colw_init(&w, dst);
        nn_colw_zero(&w, (-K) & 3);
        for (ky = 0; ky < p->k_h; ky++) {
            const int32_t iy = iy0 + ky * p->dil_h;
            const int8_t *src;
            int32_t kx;
            if (iy < 0 || iy >= p->in_h || kx0 >= kx1) {
                colw_pad(&w, row_len, pad4);
                continue;
            }
            src = in + (iy * W + ix0 + kx0 * p->dil_w) * C + g * cin_g;
            if (kx0 > 0)
                colw_pad(&w, kx0 * cin_g, pad4);
            if (dense) {
                /* the valid part of the kernel row is one contiguous run of the input row */
                nn_colw_put(&w, src, (kx1 - kx0) * C);
            } else {
                for (kx = kx0; kx < kx1; kx++, src += p->dil_w * C)
                    nn_colw_put(&w, src, cin_g);
            }
            if (kx1 < KW)
                colw_pad(&w, (KW - kx1) * cin_g, pad4);
        }
        nn_colw_end(&w);
    }
}

/* Widen n >= 1 blocks of four int8 runs (s0..s3, one per column, 4 bytes per block) into the
 * interleaved four-column layout at dst: per block the even words of columns 0..3, then their
 * odd words. On ARM one block is 4 LDR, 8 SXTB16 and one STM of eight registers (the STM needs
 * ascending registers, so they are named here: r4-r6, r8-r12, r7 stays the frame pointer's).
 * Out of line: inlined, the caller's live values leave too few registers for the operands. */
#if defined(__ARM_FEATURE_DSP) && !defined(NN_EMULATE_DSP) && defined(__GNUC__)
#define NN_WIDEN4_BLOCK_ASM                                                                    \
    "ldr    r9, [%[s0]], #4\n\t"                                                               \
    "ldr    r10, [%[s1]], #4\n\t"                                                              \
    "ldr    r11, [%[s2]], #4\n\t"                                                              \
    "ldr    r12, [%[s3]], #4\n\t"                                                              \
    "sxtb16 r4, r9\n\t"                                                                        \
    "sxtb16 r9, r9, ror #8\n\t"                                                                \
    "sxtb16 r5, r10\n\t"                                                                       \
    "sxtb16 r10, r10, ror #8\n\t"                                                              \
    "sxtb16 r6, r11\n\t"                                                                       \
    "sxtb16 r11, r11, ror #8\n\t"                                                              \
    "sxtb16 r8, r12\n\t"                                                                       \
    "sxtb16 r12, r12, ror #8\n\t"                                                              \
    "stmia  %[d]!, {r4, r5, r6, r8, r9, r10, r11, r12}\n\t"
static NN_NOINLINE void widen4(const int8_t *s0, const int8_t *s1, const int8_t *s2,
                               const int8_t *s3, int32_t n, int16_t *dst)
{
    __asm__ volatile(
        "tst    %[n], #1\n\t"
        "beq    2f\n\t"
        NN_WIDEN4_BLOCK_ASM
        "2:\n\t"
        "asrs   %[n], %[n], #1\n\t"
        "beq    4f\n\t"
        "3:\n\t"
        NN_WIDEN4_BLOCK_ASM
        NN_WIDEN4_BLOCK_ASM
        "subs   %[n], %[n], #1\n\t"
        "bne    3b\n\t"
        "4:\n\t"
        : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [n] "+r"(n), [d] "+r"(dst)
        :
        : "r4", "r5", "r6", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
}
#else
static inline void widen4(const int8_t *s0, const int8_t *s1, const int8_t *s2,
                          const int8_t *s3, int32_t n, int16_t *dst)
{
    for (; n > 0; n--, s0 += 4, s1 += 4, s2 += 4, s3 += 4, dst += NN_COLW_STEP) {
        const uint32_t x0 = nn_read32(s0), x1 = nn_read32(s1);
        const uint32_t x2 = nn_read32(s2), x3 = nn_read32(s3);
        nn_write32(dst, nn_sxtb16(x0));
        nn_write32(dst + 2, nn_sxtb16(x1));
        nn_write32(dst + 4, nn_sxtb16(x2));
        nn_write32(dst + 6, nn_sxtb16(x3));
        nn_write32(dst + 8, nn_sxtb16_ror8(x0));
        nn_write32(dst + 10, nn_sxtb16_ror8(x1));
        nn_write32(dst + 12, nn_sxtb16_ror8(x2));
        nn_write32(dst + 14, nn_sxtb16_ror8(x3));
    }
}
#endif

/* n blocks of the padding byte (pad4) in all four columns. */
static inline void widen4_pad(int32_t n, uint32_t pad4, int16_t *dst)
{
    const uint32_t e = nn_sxtb16(pad4), o = nn_sxtb16_ror8(pad4);
    for (; n > 0; n--, dst += NN_COLW_STEP) {
        nn_write32(dst, e);
        nn_write32(dst + 2, e);
        nn_write32(dst + 4, e);
        nn_write32(dst + 6, e);
        nn_write32(dst + 8, o);
        nn_write32(dst + 10, o);
        nn_write32(dst + 12, o);
        nn_write32(dst + 14, o);
    }
}

/* The four columns of four pixels in one output row (oy; columns ox0 + p, p = 0..3), for layers
 * with cin_g % 4 == 0 (each tap is cin_g / 4 whole blocks of one input pixel): per kernel row,
 * a row that lies inside the input for all four pixels of a dense layer (dilation 1 across) is
 * one widen4 over its k_w * cin_g / 4 blocks; otherwise per tap, a tap inside the input for all
 * four pixels one widen4, a tap outside for all of them padding, a mixed one block by block. */
static NN_NOINLINE void im2col_quad_taps(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox0,
                             int32_t g, int32_t cin_g, int16_t *dst, uint32_t pad4)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, nbt = cin_g >> 2;
    const int32_t sw = p->stride_w, dw = p->dil_w;
    const int32_t ix0 = ox0 * sw - p->pad_w, iy0 = oy * p->stride_h - p->pad_h;
    const int whole = dw == 1 && cin_g == C && ix0 >= 0 && ix0 + 3 * sw + KW <= W;
    const int32_t dx = sw * C;
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int8_t *row;
        if (iy < 0 || iy >= p->in_h) {
            widen4_pad(KW * nbt, pad4, dst);
            dst += KW * nbt * NN_COLW_STEP;
            continue;
        }
        row = in + iy * W * C + g * cin_g;
        if (whole) {
            const int8_t *s = row + ix0 * C;
            widen4(s, s + dx, s + 2 * dx, s + 3 * dx, KW * nbt, dst);
            dst += KW * nbt * NN_COLW_STEP;
            continue;
        }
        for (kx = 0; kx < KW; kx++, dst += nbt * NN_COLW_STEP) {
            const int32_t ix = ix0 + kx * dw;   /* pixel 0's tap; pixel q's is ix + q * sw */
            if (ix >= 0 && ix + 3 * sw < W) {
                const int8_t *s = row + ix * C;
                widen4(s, s + dx, s + 2 * dx, s + 3 * dx, nbt, dst);
            } else if (ix >= W || ix + 3 * sw < 0) {
                widen4_pad(nbt, pad4, dst);
            } else {   /* widened from a valid tap, then the padding pixels overwritten */
                const uint32_t pe = nn_sxtb16(pad4), po = nn_sxtb16_ror8(pad4);
                const int8_t *s[4];
                const int8_t *any = 0;
                int32_t b, q;
                for (q = 0; q < 4; q++) {
                    const int32_t x = ix + q * sw;
                    s[q] = x >= 0 && x < W ? row + x * C : 0;
                    if (s[q] != 0)
                        any = s[q];
                }
                for (q = 0; q < 4; q++)
                    if (s[q] == 0)
                        s[q] = any;
                widen4(s[0], s[1], s[2], s[3], nbt, dst);
                for (q = 0; q < 4; q++) {
                    const int32_t x = ix + q * sw;
                    if (x >= 0 && x < W)
                        continue;
                    for (b = 0; b < nbt; b++) {
                        nn_write32(dst + b * NN_COLW_STEP + 2 * q, pe);
                        nn_write32(dst + b * NN_COLW_STEP + NN_COLW_ODD + 2 * q, po);
                    }
                }
            }
        }
    }
}

/* Stack bytes per pixel for gathering the small columns of a quad (four of them live). */
#define NN_QSTAGE_MAX 128

/* Rows of the quad stage (NN_QSTAGE_MAX + 4 bytes apart) from pixel q's run at src + q dx, by
 * words: whole words up to `last` (run length - 4), then the word ending at the run's last byte
 * (it may overlap the one before: nothing is read or written outside the runs). */
static inline void copy4_runs(int8_t *at, const int8_t *src, int32_t dx, int32_t last)
{
    const int32_t dx2 = 2 * dx, dx3 = 3 * dx;
    const int8_t *const end = src + last;
    for (;;) {
        const uint32_t w0 = nn_read32(src), w1 = nn_read32(src + dx);
        const uint32_t w2 = nn_read32(src + dx2), w3 = nn_read32(src + dx3);
        nn_write32(at, w0);
        nn_write32(at + (NN_QSTAGE_MAX + 4), w1);
        nn_write32(at + 2 * (NN_QSTAGE_MAX + 4), w2);
        nn_write32(at + 3 * (NN_QSTAGE_MAX + 4), w3);
        if (src == end)
            return;
        if (end - src < 4) {        /* the overlapping last word */
            at += end - src;
            src = end;
        } else {
            at += 4;
            src += 4;
        }
    }
}

/* Bytes of a quad's input span in one row ((3 stride_w + k_w) pixels) that im2col_quad_small
 * pads on the stack when the quad meets the left or right border. */
#define NN_QSPAN_MAX 128

/* The by-rows path of im2col_quad_small (its row condition holds: four pixels (oy, ox0 + q) of
 * one output row of a dense layer, dilation 1 across, kernel rows of 4+ bytes, a span of
 * (3 stride_w + k_w) pixels <= NN_QSPAN_MAX bytes): pixel q's run is the span's bytes from
 * q * stride_w * C, read from the input row, or from the span padded on the stack when the quad
 * meets a border (once per kernel row, not per pixel and tap). Its own function so that an entry
 * whose layers all meet the condition (nn_conv_rows4.h) links neither stage_window nor im2col. */
static NN_NOINLINE void im2col_quad_small_rows(const nn_conv_params *p, const int8_t *in, int32_t oy0,
                                               int32_t ox0, int32_t K, int16_t *dst, uint32_t pad4)
{
    int8_t st[4][NN_QSTAGE_MAX + 4] __attribute__((aligned(4)));
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, row_len = KW * C;
    const int32_t pre = (-K) & 3, sw = p->stride_w, dx = sw * C, npx = 3 * sw + KW;
    int8_t span[NN_QSPAN_MAX + 4] __attribute__((aligned(4)));
    const int32_t ix0 = ox0 * sw - p->pad_w, iy0 = oy0 * p->stride_h - p->pad_h;
    const int32_t x0 = ix0 < 0 ? -ix0 : 0, x1 = ix0 + npx > W ? W - ix0 : npx;
    const int32_t last = row_len - 4;
    int8_t *at = st[0] + pre;
    int32_t ky, i, q;
    for (q = 0; q < 4; q++)
        nn_write32(st[q], pad4 << (8 * pre));   /* zeros in front of the first block */
    for (ky = 0; ky < p->k_h; ky++, at += row_len) {
        const int32_t iy = iy0 + ky * p->dil_h, row_in = iy >= 0 && iy < p->in_h;
        const int8_t *src = span;
        if (row_in && x0 == 0 && x1 == npx) {
            src = in + (iy * W + ix0) * C;
        } else {
            for (i = 0; i < npx * C; i += 4) {
                nn_write32(span + i, pad4);
                NN_AFTER(i, i);
            }
            if (row_in && x0 < x1)
                copy_run(span + x0 * C, in + (iy * W + ix0 + x0) * C, (x1 - x0) * C);
        }
        /* the four runs by words, the last word ending at the run's last byte (it may
         * overlap the previous one) */
        copy4_runs(at, src, dx, last);
    }
    widen4(st[0], st[1], st[2], st[3], (K + 3) >> 2, dst);
}

/* The columns of small windows (K <= NN_QSTAGE_MAX, any layout: e.g. RGB input, whose blocks do
 * not line up with the kernel rows) of four pixels (oy[q], ox[q]): each window is gathered in
 * natural int8 order on the stack ((-K) & 3 zeros in front), then all four are widened in one
 * pass. Four pixels of one output row of a dense layer go by kernel rows
 * (im2col_quad_small_rows); other quads pixel by pixel (stage_window). */
static NN_NOINLINE NN_MAYBE_UNUSED void im2col_quad_small(const nn_conv_params *p, const int8_t *in, const int32_t *oy,
                              const int32_t *ox, int32_t g, int32_t cin_g, int32_t K,
                              int16_t *dst, uint32_t pad4)
{
    const int32_t C = p->in_c, KW = p->k_w, row_len = KW * cin_g;
    const int32_t npx = 3 * p->stride_w + KW;
    if (p->dil_w == 1 && cin_g == C && row_len >= 4 && oy[3] == oy[0] && ox[3] == ox[0] + 3
        && npx * C <= NN_QSPAN_MAX) {
        im2col_quad_small_rows(p, in, oy[0], ox[0], K, dst, pad4);
    } else {
        int8_t st[4][NN_QSTAGE_MAX + 4] __attribute__((aligned(4)));
        int32_t q;
        for (q = 0; q < 4; q++)
            stage_window(p, in, oy[q], ox[q], g, cin_g, K, st[q], pad4);
        widen4(st[0], st[1], st[2], st[3], (K + 3) >> 2, dst);
    }
}

#endif
