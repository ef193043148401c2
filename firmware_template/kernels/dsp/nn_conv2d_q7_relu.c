/* nn_conv2d_q7 for a layer the generator knows to be general (not depthwise) with a fused ReLU
 * and out_shift in 2..31 (act 0..127), DSP variant: the general loop with the ReLU epilogue named
 * at compile time, so a firmware that calls only this entry links neither the other epilogue
 * bodies nor the depthwise loop (issue 13: flash). Same bytes as nn_conv2d_q7. */
#include "nn_kernels.h"
#include "nn_conv_general.h"

void nn_conv2d_q7_relu(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                       const int32_t *bias, int8_t *out, int16_t *scratch)
{
    conv_general(p, in, weight, bias, out, scratch, mat_mult_4px_relu);
}
