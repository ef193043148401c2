/* The model's input stage with a compact per-pixel offset table (docs/q7_contract.md, "input
 * stage"): the contract's off[i] is off8[i] * off_mul. The generator picks it when every offset
 * is a multiple of one power of two off_mul with a uint8 quotient (an integer mean image: 1 byte
 * per value instead of 4) and when p * mul - off[i] + 2^(shift-1) stays in int32 for every pixel
 * value, so the rounding constant folds into the multiply-accumulate. */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_input_stage_off8_q7(const uint8_t *pixels, int32_t n, int32_t mul, const uint8_t *off8,
                            int32_t off_mul, int16_t shift, int8_t *out)
{
    const int32_t half = (int32_t)1 << (shift - 1);
    int32_t i;
    for (i = 0; i < n; i++) {
        const int32_t r = (pixels[i] * mul + (half - off8[i] * off_mul)) >> shift;
        out[i] = (int8_t)nn_sat8(r);
    }
}
