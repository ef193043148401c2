/* nn_conv2d_s8_relu_quad with int16 weights in the scratch: see nn_conv2d_q7_relu_quad_wide.c. */
#include "nn_kernels.h"

void nn_conv2d_s8_relu_quad_wide(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                                 const int32_t *chan, int8_t *out, int16_t *scratch)
{
    nn_conv2d_s8_relu_quad(p, in, weight, chan, out, scratch);
}

int32_t nn_conv2d_s8_relu_quad_wide_scratch_bytes(const nn_conv_s8_params *p)
{
    return nn_conv2d_s8_scratch_bytes(p);
}
