/* Internal, conv variants only: tap ranges and the depthwise loop, shared by ref/ and dsp/
 * nn_conv2d_q7.c. Plain static functions in a header on purpose: each variant is one translation
 * unit that includes this once, so the compiler inlines and schedules them exactly as if they
 * were written in that file. */
#ifndef NN_CONV_COMMON_H
#define NN_CONV_COMMON_H

#include "nn_internal.h"

/* Valid tap range [lo, hi) along one axis: origin + t*dil must lie in [0, size). */
static void tap_range(int32_t origin, int32_t k, int32_t dil, int32_t size, int32_t *lo, int32_t *hi)
{
    int32_t a = 0, b = k;
    if (origin < 0)
        a = (-origin + dil - 1) / dil;
    if (origin + (b - 1) * dil >= size)
        b = (size - 1 - origin) / dil + 1;  /* size-1-origin >= 0 whenever any tap is valid */
    if (origin > size - 1)
        b = 0;
    if (b < a)
        b = a;
    *lo = a;
    *hi = b;
}

/* (unused in the s8 files, which include this header for tap_range) */
static NN_MAYBE_UNUSED void conv_depthwise(const nn_conv_params *p, const int8_t *in,
                                           const int8_t *weight, const int32_t *bias, int8_t *out)
{
    const int32_t C = p->in_c, W = p->in_w, OC = p->out_c, KH = p->k_h, KW = p->k_w;
    const int32_t mult = OC / C, row_step = p->dil_h * W * C, col_step = p->dil_w * C;
    const int32_t s = p->out_shift, lo = p->act_min, hi = p->act_max;
    int32_t oy, ox, o;

    for (oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky0, ky1;
        tap_range(iy0, KH, p->dil_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx0, kx1;
            const int8_t *base;
            tap_range(ix0, KW, p->dil_w, W, &kx0, &kx1);
            /* first valid tap (an empty window leaves only the bias and never reads base) */
            base = ky0 < ky1 && kx0 < kx1
                 ? in + ((iy0 + ky0 * p->dil_h) * W + ix0 + kx0 * p->dil_w) * C : in;
            for (o = 0; o < OC; o++) {
                const int8_t *row = base + o / mult;
                const int8_t *wrow = weight + (o * KH + ky0) * KW + kx0;
                int32_t acc = bias[o], ky, kx;
                for (ky = ky0; ky < ky1; ky++, row += row_step, wrow += KW) {
                    const int8_t *x = row;
                    for (kx = 0; kx < kx1 - kx0; kx++, x += col_step)
                        acc += *x * wrow[kx];
                }
                *out++ = (int8_t)nn_requant(acc, s, lo, hi);
            }
        }
    }
}

/* Which loop a variant's nn_conv2d_q7 runs: depthwise (one input channel per group) takes
 * conv_depthwise above, everything else the variant's own general loop. A macro: as an inline
 * function call GCC 12 schedules nn_conv2d_q7 differently (checked on the disassembly). */
#define NN_CONV_IS_DEPTHWISE(p) ((p)->groups > 1 && (p)->in_c == (p)->groups)

#endif
