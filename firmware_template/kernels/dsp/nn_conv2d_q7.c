/* 2-D convolution, q7, DSP variant (docs/q7_contract.md: conv2d). Same bytes as ref/.
 *
 * Two loops (nn_conv2d_q7 picks one, like CMSIS-NN's arm_convolve_wrapper_s8):
 *   - depthwise (one input channel per group, any channel multiplier): direct, window clipped
 *     once per output pixel so the tap loop has no bounds tests (common/nn_conv_common.h);
 *   - general: per group, output pixels go in quads; im2col widens each pixel's window to an
 *     int16 column (the four columns interleaved in the scratch, ceil(K / 4) blocks with the
 *     K % 4 gap as leading zeros, common/nn_dsp.h; quads inside the input build all columns in
 *     one pass: nn_conv_im2col.h), then a mat-mult computes 1 output channel x 4 output pixels
 *     per pass with SMLAD: 4 accumulators, each weight word widened (SXTB16, SXTB16 ROR 8) once
 *     per 16 MACs, the column words loaded by LDM, no tail loop (nn_conv_mat_mult.h).
 * Both accumulate exactly in int32 (only the order of the additions differs from ref/) and
 * requantise identically.
 */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_conv_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"
#include "nn_conv_quads.h"

static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G;
    const nn_mat_mult_fn f = nn_conv_q7_mode(p->out_shift, p->act_min, p->act_max);
    int32_t g;
    for (g = 0; g < G; g++) {
        nn_conv_quads q;
        nn_conv_quads_init(&q, p, in, g, cin_g, 0);
        while (nn_conv_quads_next(&q, scratch)) {
            int8_t *o = out + q.pix * p->out_c + g * cout_g;
            if (q.npx == 4)
                f(weight + g * cout_g * q.K, bias + g * cout_g, cout_g, q.K, scratch, o, p->out_c,
                  p->out_shift, p->act_min, p->act_max);
            else
                mat_mult_tail(f, weight + g * cout_g * q.K, bias + g * cout_g, cout_g, q.K,
                              scratch, o, p->out_c, q.npx, p->out_shift, p->act_min, p->act_max, 1);
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

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return 8 * nn_ceil4(nn_conv_taps(p));   /* four int16 im2col columns, 4-value blocks */
}
