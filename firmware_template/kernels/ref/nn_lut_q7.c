/* Table activation, q7 (docs/q7_contract.md: sigmoid/tanh tables). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_lut_q7(const int8_t *in, const int8_t *table, int8_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++)
        out[i] = table[in[i] + 128];
}
