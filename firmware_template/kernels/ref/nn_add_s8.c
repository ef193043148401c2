/* Element-wise add, int8 (docs/int8_contract.md: add): TFLite Micro's int8 ADD, i.e. both inputs
 * moved to a common scale with 2^left_shift headroom, summed, requantised to the output
 * (nn_add_s8_common.h, which mve/ shares). */
#include "nn_kernels.h"
#include "nn_add_s8_common.h"

void nn_add_s8(const nn_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    nn_add_s8_scalar(p, a, b, out);
}
