/* nn_conv2d_s8_relu for a layer whose output quads each lie in one row and are built by kernel
 * rows or taps (kernels/q7_conv2d.py: quad_entry): the entry the generator calls for those.
 * Variants without a specialised one forward to their nn_conv2d_s8_relu; dsp/ has its own. */
#include "nn_kernels.h"

void nn_conv2d_s8_relu_quad(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                            const int32_t *chan, int8_t *out, int16_t *scratch)
{
    nn_conv2d_s8_relu(p, in, weight, chan, out, scratch);
}
