/* nn_conv2d_q7_relu_quad with int16 weights in the scratch: only the DSP variant has that loop
 * (dsp/nn_conv_wide.h); every other variant runs its _quad entry with its own scratch, so the
 * entry exists in every variant (the generator asks for it on dsp only). */
#include "nn_kernels.h"

void nn_conv2d_q7_relu_quad_wide(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                                 const int32_t *bias, int8_t *out, int16_t *scratch)
{
    nn_conv2d_q7_relu_quad(p, in, weight, bias, out, scratch);
}

int32_t nn_conv2d_q7_relu_quad_wide_scratch_bytes(const nn_conv_params *p)
{
    return nn_conv2d_q7_scratch_bytes(p);
}
