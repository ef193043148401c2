/* PReLU, q7, in place: per-channel slopes (docs/q7_contract.md: prelu). One variant serves every
 * core: the loop is one multiply per negative value. */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_prelu_q7(int8_t *data, int32_t pixels, int16_t channels, const int16_t *slope, int16_t shift)
{
    int32_t i, c;
    for (i = 0; i < pixels; i++, data += channels)
        for (c = 0; c < channels; c++)
            if (data[c] < 0)
                data[c] = (int8_t)nn_requant(data[c] * (int32_t)slope[c], shift, -128, 127);
}
