/* ReLU, q7, in place, DSP variant (docs/q7_contract.md: relu): 4 values per word with
 * SSUB8+SEL against zero. */
#include "nn_kernels.h"
#include "nn_dsp.h"

void nn_relu_q7(int8_t *data, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4)
        nn_write32(data + i, nn_max_s8x4(nn_read32(data + i), 0));
    for (; i < n; i++)
        if (data[i] < 0)
            data[i] = 0;
}
