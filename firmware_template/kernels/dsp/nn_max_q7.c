/* acc = max(acc, x) element-wise (int8, either scheme), DSP variant: the vertical half of a max
 * pool split by rows (ref/nn_max_q7.c), 4 bytes per word with SSUB8+SEL. A streamed 3x3 max pool
 * runs it on every carried row, where the byte loop cost cifar10_m4's pool1 +111K instructions. */
#include "nn_kernels.h"
#include "nn_dsp.h"

void nn_max_q7(int8_t *acc, const int8_t *x, int32_t n)
{
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint32_t a0 = nn_read32(acc + i), a1 = nn_read32(acc + i + 4);
        uint32_t x0 = nn_read32(x + i), x1 = nn_read32(x + i + 4);
        nn_write32(acc + i, nn_max_s8x4(a0, x0));
        nn_write32(acc + i + 4, nn_max_s8x4(a1, x1));
    }
    for (; i + 4 <= n; i += 4)
        nn_write32(acc + i, nn_max_s8x4(nn_read32(acc + i), nn_read32(x + i)));
    for (; i < n; i++)
        if (x[i] > acc[i])
            acc[i] = x[i];
}
