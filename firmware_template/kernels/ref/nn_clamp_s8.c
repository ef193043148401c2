/* Activation clamp, int8, in place (docs/int8_contract.md: relu, and the pools' act range). */
#include "nn_kernels.h"

void nn_clamp_s8(int8_t *data, int32_t n, int16_t act_min, int16_t act_max)
{
    int32_t i;
    for (i = 0; i < n; i++)
        data[i] = (int8_t)(data[i] < act_min ? act_min : (data[i] > act_max ? act_max : data[i]));
}
