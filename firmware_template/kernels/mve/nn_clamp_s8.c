/* Activation clamp, int8, in place, Helium (MVE) variant (docs/int8_contract.md: relu, and the
 * pools' act range): VMAX/VMIN.S8 over 16 values an iteration, the last one tail-predicated. */
#include "nn_kernels.h"
#include "nn_mve.h"

void nn_clamp_s8(int8_t *data, int32_t n, int16_t act_min, int16_t act_max)
{
    mve_clamp(data, n, act_min, act_max);
}
