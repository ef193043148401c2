/* ReLU, q7, in place, Helium (MVE) variant (docs/q7_contract.md: relu): VMAX.S8 with zero over
 * 16 values an iteration, the last one tail-predicated. */
#include "nn_kernels.h"
#include "nn_mve.h"

void nn_relu_q7(int8_t *data, int32_t n)
{
    mve_clamp(data, n, 0, 127);
}
