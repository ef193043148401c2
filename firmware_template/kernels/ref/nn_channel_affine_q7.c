/* Per-channel affine, q7 (docs/q7_contract.md: channel_affine): a BatchNorm, Scale or Bias that
 * could not be folded into the layer before it. out may be in (element-wise). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_channel_affine_q7(const int8_t *in, int32_t pixels, int16_t channels, const int16_t *mul,
                          const int32_t *bias, int16_t shift, int8_t *out)
{
    int32_t i, c;
    for (i = 0; i < pixels; i++, in += channels, out += channels)
        for (c = 0; c < channels; c++)
            out[c] = (int8_t)nn_requant(in[c] * (int32_t)mul[c] + bias[c], shift, -128, 127);
}
