/* acc = max(acc, x) element-wise (int8, either scheme): the vertical half of a max pool split
 * by rows (nn_maxpool_q7_hrow, nn_maxpool_s8_hrow; nnbuild.schedule). */
#include "nn_kernels.h"

void nn_max_q7(int8_t *acc, const int8_t *x, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++)
        if (x[i] > acc[i])
            acc[i] = x[i];
}
