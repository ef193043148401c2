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

/* Column of output pixel (oy, ox), group g: K = k_h*k_w*cin_g values in (ky, kx, c) order,
 * after (-K) & 3 zeros (whole blocks), written into the interleaved layout at dst (column p:
 * scratch + 2 p); padding taps hold the byte of pad4 (q7: 0; s8: in_zp, which
 * the folded bias expects). q7 passes the constant 0, so GCC specialises it (constprop) into
 * the code it had before s8 existed.
 * Small columns whose channel runs do not start on 4-value blocks (e.g. RGB input) are gathered
 * on the stack and widened in one aligned pass; the others go through the byte-stream writer,
 * whose word path handles aligned runs at full speed. */
static void im2col(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox, int32_t g,
                   int32_t cin_g, int16_t *dst, uint32_t pad4)
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
        nn_write32(stage, pad4 << (8 * ((-K) & 3)));  /* zeros in front of the first block */
        if (dense && kx0 == 0 && kx1 == KW && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
            /* interior pixel (the common case): every kernel row is one full input run */
            const int8_t *src = in + (iy0 * W + ix0) * C;
            const int32_t row_step = p->dil_h * W * C;
            for (ky = 0; ky < p->k_h; ky++, at += row_len, src += row_step)
                copy_run(at, src, row_len);
            widen_col(dst, stage, K);
            return;
        }
        /* border pixel: zero the whole stage by words (cheaper than a memset call per gap),
         * then copy the valid taps */
        {
            int32_t i;
            for (i = 4; i < K; i += 4) {
                nn_write32(stage + i, pad4);
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
        widen_col(dst, stage, K);
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

/* The four columns of four pixels in one output row whose windows lie inside the input, for
 * dense layers with in_c % 4 == 0 (each kernel row is row_blocks whole blocks of one input run;
 * pixel p's run starts p * dx bytes later): a block's eight words are written together. */
static void im2col_quad_interior(const int8_t *src, int32_t dx, int32_t row_step, int32_t k_h,
                                 int32_t row_blocks, int16_t *dst)
{
    int32_t ky, n;
    for (ky = 0; ky < k_h; ky++, src += row_step) {
        const int8_t *s = src;
        for (n = row_blocks; n > 0; n--, s += 4, dst += NN_COLW_STEP) {
            const uint32_t x0 = nn_read32(s), x1 = nn_read32(s + dx);
            const uint32_t x2 = nn_read32(s + 2 * dx), x3 = nn_read32(s + 3 * dx);
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
}

/* Stack bytes per pixel for gathering the small columns of a quad (four of them live). */
#define NN_QSTAGE_MAX 128

/* Copy a run of n >= 4 bytes by words, the last word ending at the run's last byte (it may
 * overlap the previous one): nothing is read or written outside the run. */
static inline void copy_run_words(int8_t *d, const int8_t *src, int32_t n)
{
    const int32_t last = n - 4;
    int32_t i;
    for (i = 0; i < last; i += 4) {
        nn_write32(d + i, nn_read32(src + i));
        NN_AFTER(d, i);  /* keeps GCC from turning this loop into a memcpy call */
    }
    nn_write32(d + last, nn_read32(src + last));
}

/* Like im2col_quad_interior for small columns whose blocks do not line up with the kernel rows
 * (e.g. RGB input): each pixel's window is gathered on the stack (rows of row_len >= 4 bytes,
 * K <= NN_QSTAGE_MAX, (-K) & 3 zeros in front), then all four are widened in one pass. */
static void im2col_quad_small_interior(const int8_t *src, int32_t dx, int32_t row_step,
                                       int32_t k_h, int32_t row_len, int32_t K, int16_t *dst)
{
    int8_t st[4][NN_QSTAGE_MAX + 4] __attribute__((aligned(4)));
    int32_t p, ky, at, b;
    for (p = 0; p < 4; p++, src += dx) {
        const int8_t *s = src;
        nn_write32(st[p], 0);
        for (ky = 0, at = (-K) & 3; ky < k_h; ky++, at += row_len, s += row_step)
            copy_run_words(st[p] + at, s, row_len);
    }
    for (b = 0; b < K; b += 4, dst += NN_COLW_STEP) {   /* ceil(K / 4) blocks */
        const uint32_t x0 = nn_read32_aligned(st[0] + b), x1 = nn_read32_aligned(st[1] + b);
        const uint32_t x2 = nn_read32_aligned(st[2] + b), x3 = nn_read32_aligned(st[3] + b);
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
