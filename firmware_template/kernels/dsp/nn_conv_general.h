/* Internal to dsp/nn_conv2d_q7.c and nn_conv2d_q7_relu.c: the general (not depthwise) q7 loop
 * with its epilogue instance `f` passed in. Each entry point passes the instance its layers need
 * (nn_conv2d_q7 picks one per call, nn_conv2d_q7_relu names mat_mult_4px_relu), so a firmware whose
 * convs all have a fused ReLU links only that epilogue: the linker drops what no call reaches.
 * Static, in a header included once by each of those files. */
#ifndef NN_CONV_GENERAL_H
#define NN_CONV_GENERAL_H

#include "nn_dsp.h"
#include "nn_conv_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"
#include "nn_conv_quads.h"

/* per group, output pixels in quads: im2col into the scratch, then f over the group's channels */
static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int16_t *scratch, nn_mat_mult_fn f)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G;
    int32_t g;
    for (g = 0; g < G; g++) {
        nn_conv_quads q;
        nn_conv_quads_init(&q, p, in, g, cin_g, 0);
        while (nn_conv_quads_next(&q, scratch)) {
            int8_t *o = out + q.pix * p->out_c + g * cout_g;
            if (q.npx == 4)
                f(weight + g * cout_g * q.R, bias + g * cout_g, cout_g, q.R, scratch, o, p->out_c,
                  p->out_shift, p->act_min, p->act_max);
            else
                mat_mult_tail(f, weight + g * cout_g * q.R, bias + g * cout_g, cout_g, q.R,
                              scratch, o, p->out_c, q.npx, p->out_shift, p->act_min, p->act_max, 1);
        }
    }
}

#endif
