/* Stands in for a kernel object (compiled into a kernels/ directory by the memory-map test). */
#include <stdint.h>

int32_t nn_fake_kernel_table[64];

void nn_fake_kernel(int8_t *data, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        nn_fake_kernel_table[i & 63] += data[i];
        data[i] = (int8_t)(data[i] > 0 ? data[i] : 0);
    }
}
