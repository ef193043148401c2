/* Internal to dsp/nn_conv2d_q7_relu_quad.c and nn_conv2d_s8_relu_quad.c: the general loop for the
 * layers the generator gives the _quad entries (kernels/q7_conv2d.py: quad_entry): out_w % 4 == 0,
 * so every quad of four output pixels lies in one output row and none is short, and each quad is
 * built by kernel rows (im2col_quad_small_rows: K <= NN_QSTAGE_MAX, dense, dilation 1 across, a
 * span of <= NN_QSPAN_MAX bytes) or by taps (im2col_quad_taps: K > NN_QSTAGE_MAX, cin_g % 4 == 0).
 * It references neither the pixel-by-pixel im2col, stage_window nor mat_mult_tail, so a firmware
 * of such layers links none of them (issue 13: flash; like CMSIS-NN's wrapper picking a variant,
 * but at generation time). Static, in a header included once by each of those files. */
#ifndef NN_CONV_ROWS4_H
#define NN_CONV_ROWS4_H

#include "nn_dsp.h"
#include "nn_conv_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"

/* b: bias words (q7, bw 1) or channel records (s8, bw NN_S8_CHAN); s, lo, hi: f's epilogue
 * arguments; pad4: the padding byte x 4 */
static void conv_rows4(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                       const int32_t *b, int8_t *out, int16_t *scratch, nn_mat_mult_fn f,
                       int32_t s, int32_t lo, int32_t hi, int32_t bw, uint32_t pad4)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G;
    const int32_t K = p->k_h * p->k_w * cin_g, R = nn_ceil4(K);
    int32_t g, oy, ox;
    for (g = 0; g < G; g++) {
        const int8_t *const wg = weight + g * cout_g * R;
        const int32_t *const bg = b + bw * g * cout_g;
        int8_t *o = out + g * cout_g;
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox += 4, o += 4 * p->out_c) {
                if (K <= NN_QSTAGE_MAX)
                    im2col_quad_small_rows(p, in, oy, ox, K, scratch, pad4);
                else
                    im2col_quad_taps(p, in, oy, ox, g, cin_g, scratch, pad4);
                f(wg, bg, cout_g, R, scratch, o, p->out_c, s, lo, hi);
            }
        }
    }
}

#endif
