/* 2-D convolution, int8, DSP variant (docs/int8_contract.md: conv2d). Same bytes as ref/.
 *
 * dsp/nn_conv2d_q7.c's loops on q7's geometry struct: depthwise direct
 * (common/nn_conv_s8_common.h); general: per group, output pixels in quads, im2col into the
 * interleaved int16 columns (padding taps hold in_zp, which the folded bias expects), the same
 * SMLAD 1x4 mat-mult (nn_conv_mat_mult.h), then per output channel MultiplyByQuantizedMultiplier
 * + out_zp + clamp: only the epilogue differs from q7, outside the MAC loop. The general loop is
 * in nn_conv_s8_general.h, shared with nn_conv2d_s8_relu.c (the fused-ReLU entry, mode 5).
 */
#include "nn_kernels.h"
#include "nn_conv_s8_general.h"

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch)
{
    int mode;
    if (NN_CONV_IS_DEPTHWISE(p)) {
        conv_depthwise_s8(p, in, weight, chan, out);
        return;
    }
    mode = nn_conv_s8_mode(chan, p->out_c, p->out_zp, p->act_min, p->act_max);
    conv_general_s8(p, in, weight, chan, out, scratch,
                    mode == 3 ? mat_mult_4px_s8_int8 : mode == 5 ? mat_mult_4px_s8_relu : mat_mult_4px_s8);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return 8 * nn_ceil4(nn_conv_taps(&g));   /* four int16 im2col columns, 4-value blocks */
}
