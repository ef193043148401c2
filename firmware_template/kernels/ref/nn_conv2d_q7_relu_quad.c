/* nn_conv2d_q7_relu for a layer whose output quads each lie in one row and are built by kernel
 * rows or taps (kernels/q7_conv2d.py: quad_entry): the entry the generator calls for those.
 * Variants without a specialised one forward to their nn_conv2d_q7_relu; dsp/ has its own,
 * which links neither the pixel-by-pixel im2col nor the short-quad tail. */
#include "nn_kernels.h"

void nn_conv2d_q7_relu_quad(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                            const int32_t *bias, int8_t *out, int16_t *scratch)
{
    nn_conv2d_q7_relu(p, in, weight, bias, out, scratch);
}
