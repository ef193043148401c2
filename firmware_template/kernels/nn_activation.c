/* Element-wise activations, q7 (docs/q7_contract.md: relu, sigmoid/tanh tables, softmax). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_relu_q7(int8_t *data, int32_t n)
{
    int32_t i = 0;
#ifdef NN_USE_DSP
    for (; i + 4 <= n; i += 4)
        nn_write32(data + i, nn_max_s8x4(nn_read32(data + i), 0));
#endif
    for (; i < n; i++)
        if (data[i] < 0)
            data[i] = 0;
}

void nn_leaky_relu_q7(int8_t *data, int32_t n, int16_t slope_q15)
{
    int32_t i;
    for (i = 0; i < n; i++)
        if (data[i] < 0)
            data[i] = (int8_t)nn_requant(data[i] * (int32_t)slope_q15, 15, -128, 127);
}

void nn_lut_q7(const int8_t *in, const int8_t *table, int8_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++)
        out[i] = table[in[i] + 128];
}

void nn_softmax_q7(const int8_t *in, int32_t n, const int32_t *exp_table, int8_t *out)
{
    int32_t i, m = -128;
    uint32_t sum = 0;
    for (i = 0; i < n; i++)
        if (in[i] > m)
            m = in[i];
    /* exp_table[d] <= 2^16 and n < 2^15: the sum and e*128 + sum/2 fit in uint32 */
    for (i = 0; i < n; i++)
        sum += (uint32_t)exp_table[m - in[i]];
    for (i = 0; i < n; i++) {
        const uint32_t q = ((uint32_t)exp_table[m - in[i]] * 128u + sum / 2u) / sum;
        out[i] = (int8_t)(q > 127u ? 127u : q);
    }
}
