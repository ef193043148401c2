/* Leaky ReLU, q7, in place (docs/q7_contract.md: leaky_relu). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_leaky_relu_q7(int8_t *data, int32_t n, int16_t slope_q15)
{
    int32_t i;
    for (i = 0; i < n; i++)
        if (data[i] < 0)
            data[i] = (int8_t)nn_requant(data[i] * (int32_t)slope_q15, 15, -128, 127);
}
