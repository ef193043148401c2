/* Internal to dsp/nn_conv2d_s8.c and nn_conv2d_s8_relu.c: the general (not depthwise) int8 loop
 * with its epilogue instance `f` passed in (as nn_conv_general.h for q7), so a firmware whose
 * convs all take the fused-ReLU epilogue links only that one. Static, in a header included once
 * by each of those files. */
#ifndef NN_CONV_S8_GENERAL_H
#define NN_CONV_S8_GENERAL_H

#include "nn_dsp.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"
#include "nn_conv_quads.h"

/* per group, output pixels in quads: im2col (padding taps hold in_zp, which the folded bias
 * expects) into the scratch, then f over the group's channel records */
static void conv_general_s8(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                            const int32_t *chan, int8_t *out, int16_t *scratch, nn_mat_mult_fn f)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G;
    const int32_t ozp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    const uint32_t pad4 = (uint32_t)(uint8_t)ps->in_zp * 0x01010101u;  /* padding taps: in_zp */
    int32_t g;
    for (g = 0; g < G; g++) {
        const int32_t *cg = chan + NN_S8_CHAN * g * cout_g;
        nn_conv_quads q;
        nn_conv_quads_init(&q, p, in, g, cin_g, pad4);
        while (nn_conv_quads_next(&q, scratch)) {
            int8_t *o = out + q.pix * p->out_c + g * cout_g;
            if (q.npx == 4)
                f(weight + g * cout_g * q.R, cg, cout_g, q.R, scratch, o, p->out_c, ozp, lo, hi);
            else
                mat_mult_tail(f, weight + g * cout_g * q.R, cg, cout_g, q.R, scratch, o, p->out_c,
                              q.npx, ozp, lo, hi, NN_S8_CHAN);
        }
    }
}

#endif
