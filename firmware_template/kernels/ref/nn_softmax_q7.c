/* Softmax, q7 (docs/q7_contract.md: softmax). */
#include "nn_kernels.h"
#include "nn_internal.h"

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
