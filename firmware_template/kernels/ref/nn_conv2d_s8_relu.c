/* nn_conv2d_s8 for a general (not depthwise) layer with a fused ReLU (act_min = out_zp,
 * act_max = 127) and every shift in -22..-1: the entry the generator calls for such layers.
 * Variants without a specialised one (ref, mla, thumb1, mve) forward to their nn_conv2d_s8;
 * dsp/ has its own, which links only that epilogue. */
#include "nn_kernels.h"

void nn_conv2d_s8_relu(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                       const int32_t *chan, int8_t *out, int16_t *scratch)
{
    nn_conv2d_s8(p, in, weight, chan, out, scratch);
}
