/* nn_conv2d_s8 for a layer the generator knows to be general (not depthwise) with a fused ReLU
 * (act_min = out_zp, act_max = 127) and every channel's shift in -22..-1 (its record's rounding
 * addend set: mode 5 of nn_conv_mat_mult.h), DSP variant: the general loop with that epilogue
 * named at compile time, so a firmware that calls only this entry links neither the other
 * epilogue bodies nor the depthwise loop (issue 13: flash). Same bytes as nn_conv2d_s8. */
#include "nn_kernels.h"
#include "nn_conv_s8_general.h"

void nn_conv2d_s8_relu(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                       const int32_t *chan, int8_t *out, int16_t *scratch)
{
    conv_general_s8(p, in, weight, chan, out, scratch, mat_mult_4px_s8_relu);
}
