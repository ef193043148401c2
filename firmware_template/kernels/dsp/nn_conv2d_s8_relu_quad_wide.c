/* nn_conv2d_s8_relu_quad with the weights widened to int16 in the scratch once per call
 * (nn_conv_wide.h), DSP variant: see nn_conv2d_q7_relu_quad_wide.c. Same bytes as nn_conv2d_s8;
 * scratch nn_conv2d_s8_relu_quad_wide_scratch_bytes(p). */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_wide.h"

void nn_conv2d_s8_relu_quad_wide(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                                 const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    conv_rows4_wide(&geo, in, weight, chan, out, scratch, 0, NN_S8_CHAN,
                    (uint32_t)(uint8_t)ps->in_zp * 0x01010101u, 5);
}

int32_t nn_conv2d_s8_relu_quad_wide_scratch_bytes(const nn_conv_s8_params *ps)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    return nn_wide_scratch_bytes(&geo);
}
