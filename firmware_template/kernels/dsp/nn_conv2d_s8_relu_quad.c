/* nn_conv2d_s8_relu for the layers the generator knows to fit nn_conv_rows4.h (out_w % 4 == 0,
 * quads built by kernel rows or taps; kernels/q7_conv2d.py: quad_entry), DSP variant: it links
 * only the two quad builders and the fused-ReLU epilogue (issue 13: flash). Same bytes as
 * nn_conv2d_s8. */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_conv_rows4.h"

void nn_conv2d_s8_relu_quad(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                            const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    conv_rows4(&geo, in, weight, chan, out, scratch, mat_mult_4px_s8_relu, ps->out_zp, ps->act_min,
               ps->act_max, NN_S8_CHAN, (uint32_t)(uint8_t)ps->in_zp * 0x01010101u);
}
