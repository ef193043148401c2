/* nn_conv2d_q7_relu_quad with the weights widened to int16 in the scratch once per call
 * (nn_conv_wide.h), DSP variant: the entry the generator calls for a _quad layer (K >= 5) whose
 * larger scratch the plan can afford (issue 13: speed for RAM, flash unchanged). Same bytes as
 * nn_conv2d_q7; scratch nn_conv2d_q7_relu_quad_wide_scratch_bytes(p). */
#include "nn_kernels.h"
#include "nn_conv_wide.h"

void nn_conv2d_q7_relu_quad_wide(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                                 const int32_t *bias, int8_t *out, int16_t *scratch)
{
    conv_rows4_wide(p, in, weight, bias, out, scratch, p->out_shift, 1, 0, 2);
}

int32_t nn_conv2d_q7_relu_quad_wide_scratch_bytes(const nn_conv_params *p)
{
    return nn_wide_scratch_bytes(p);
}
