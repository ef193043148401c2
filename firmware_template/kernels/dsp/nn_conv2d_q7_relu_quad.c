/* nn_conv2d_q7_relu for the layers the generator knows to fit nn_conv_rows4.h (out_w % 4 == 0,
 * quads built by kernel rows or taps; kernels/q7_conv2d.py: quad_entry), DSP variant: it links
 * only the two quad builders and the ReLU epilogue (issue 13: flash). Same bytes as nn_conv2d_q7. */
#include "nn_kernels.h"
#include "nn_conv_rows4.h"

void nn_conv2d_q7_relu_quad(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                            const int32_t *bias, int8_t *out, int16_t *scratch)
{
    conv_rows4(p, in, weight, bias, out, scratch, mat_mult_4px_relu, p->out_shift, p->act_min,
               p->act_max, 1, 0);
}
