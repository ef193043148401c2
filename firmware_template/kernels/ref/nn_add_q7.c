/* Element-wise add, q7 (docs/q7_contract.md: add). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_add_q7(const int8_t *a, int16_t a_shift, const int8_t *b, int16_t b_shift,
               int16_t out_shift, int8_t *out, int32_t n)
{
    const int32_t ma = (int32_t)1 << a_shift, mb = (int32_t)1 << b_shift;
    int32_t i;
    /* element i is read before it is written, so out may alias a or b */
    for (i = 0; i < n; i++)
        out[i] = (int8_t)nn_requant(a[i] * ma + b[i] * mb, out_shift, -128, 127);
}
