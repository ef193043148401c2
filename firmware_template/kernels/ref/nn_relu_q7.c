/* ReLU, q7, in place, portable variant (docs/q7_contract.md: relu). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_relu_q7(int8_t *data, int32_t n)
{
    int32_t i = 0;
    for (; i < n; i++)
        if (data[i] < 0)
            data[i] = 0;
}
