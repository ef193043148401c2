/* nn_conv2d_q7 for a general (not depthwise) layer with a fused ReLU and out_shift in 2..31:
 * the entry the generator calls for such layers. Variants without a specialised one (ref, mla,
 * thumb1, mve) forward to their nn_conv2d_q7; dsp/ has its own, which links only that epilogue. */
#include "nn_kernels.h"

void nn_conv2d_q7_relu(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                       const int32_t *bias, int8_t *out, int16_t *scratch)
{
    nn_conv2d_q7(p, in, weight, bias, out, scratch);
}
