/* Internal, s8 conv variants only (ref/ and dsp/ nn_conv2d_s8.c): the geometry in q7's struct
 * (so the two schemes share tap ranges and the DSP im2col) and the depthwise loop. Static
 * functions in a header each variant includes once.
 *
 * The generator folds -in_zp * sum(w[o]) into bias[o], so a loop over every tap computes
 * bias + sum (x - in_zp) * w when padding taps hold in_zp. The DSP im2col writes in_zp there.
 * The direct loops skip padding taps: inside the input they use the folded bias and x * w; for a
 * window clipped by the padding they restore the contract's bias (folded + in_zp * sum(w), the
 * record's last word) and accumulate (x - in_zp) * w over the valid taps. */
#ifndef NN_CONV_S8_COMMON_H
#define NN_CONV_S8_COMMON_H

#include "nn_int8.h"
#include "nn_conv_common.h"

static inline nn_conv_params nn_conv_geometry(const nn_conv_s8_params *p)
{
    nn_conv_params g;
    g.in_h = p->in_h;
    g.in_w = p->in_w;
    g.in_c = p->in_c;
    g.out_h = p->out_h;
    g.out_w = p->out_w;
    g.out_c = p->out_c;
    g.k_h = p->k_h;
    g.k_w = p->k_w;
    g.stride_h = p->stride_h;
    g.stride_w = p->stride_w;
    g.pad_h = p->pad_h;
    g.pad_w = p->pad_w;
    g.dil_h = p->dil_h;
    g.dil_w = p->dil_w;
    g.groups = p->groups;
    g.out_shift = 0;
    g.act_min = p->act_min;
    g.act_max = p->act_max;
    return g;
}

static NN_MAYBE_UNUSED void conv_depthwise_s8(const nn_conv_s8_params *p, const int8_t *in,
                                              const int8_t *weight, const int32_t *chan, int8_t *out)
{
    const int32_t C = p->in_c, W = p->in_w, OC = p->out_c, KH = p->k_h, KW = p->k_w;
    const int32_t mult_c = OC / C, row_step = p->dil_h * W * C, col_step = p->dil_w * C;
    const int32_t zp = p->in_zp, ozp = p->out_zp, lo = p->act_min, hi = p->act_max;
    int32_t oy, ox, o;

    for (oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky0, ky1;
        tap_range(iy0, KH, p->dil_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx0, kx1, z;
            const int8_t *base;
            tap_range(ix0, KW, p->dil_w, W, &kx0, &kx1);
            z = ky0 > 0 || ky1 < KH || kx0 > 0 || kx1 < KW ? zp : 0;   /* clipped: (x - zp) * w */
            base = ky0 < ky1 && kx0 < kx1
                 ? in + ((iy0 + ky0 * p->dil_h) * W + ix0 + kx0 * p->dil_w) * C : in;
            for (o = 0; o < OC; o++) {
                const int8_t *row = base + o / mult_c;
                const int8_t *wrow = weight + (o * KH + ky0) * KW + kx0;
                const int32_t *c = chan + NN_S8_CHAN * o;
                int32_t acc = c[0] + z * c[4], ky, kx;
                for (ky = ky0; ky < ky1; ky++, row += row_step, wrow += KW) {
                    const int8_t *x = row;
                    for (kx = 0; kx < kx1 - kx0; kx++, x += col_step)
                        acc += (*x - z) * wrow[kx];
                }
                *out++ = nn_requant_s8(acc, c[1], c[2], ozp, lo, hi);
            }
        }
    }
}

#endif
