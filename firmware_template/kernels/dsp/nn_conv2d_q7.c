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
 * The general loop is in nn_conv_general.h, shared with nn_conv2d_q7_relu.c (the entry the
 * generator calls for fused-ReLU layers, so a model that has only those links one epilogue).
 * Both accumulate exactly in int32 (only the order of the additions differs from ref/) and
 * requantise identically.
 */
#include "nn_kernels.h"
#include "nn_conv_general.h"

void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise(p, in, weight, bias, out);
    else
        conv_general(p, in, weight, bias, out, scratch,
                     nn_conv_q7_mode(p->out_shift, p->act_min, p->act_max));
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return 8 * nn_ceil4(nn_conv_taps(p));   /* four int16 im2col columns, 4-value blocks */
}
