/* The model's input stage with a compact per-pixel offset table (docs/q7_contract.md, "input
 * stage"): the contract's off[i] is off_base + off8[i] * off_mul, and the caller passes
 * add = 2^(shift-1) - off_base, so that
 *     q[i] = sat8((p[i] * mul + add - off8[i] * off_mul) >> shift) = requant(p[i] * mul - off[i], shift)
 * with the rounding folded into the multiply-accumulate. The generator picks it when the offsets
 * are that small (a mean image on a grid: 1 byte per value instead of 4) and every term above
 * stays in int32 for every pixel value (kernels/q7_input_stage.py). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_input_stage_off8_q7(const uint8_t *pixels, int32_t n, int32_t mul, const uint8_t *off8,
                            int32_t off_mul, int32_t add, int16_t shift, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        const int32_t r = (pixels[i] * mul + (add - off8[i] * off_mul)) >> shift;
        out[i] = (int8_t)nn_sat8(r);
    }
}
