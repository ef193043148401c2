/* The model's input stage: uint8 pixels -> q7 (docs/q7_contract.md, "input stage"). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_input_stage_q7(const uint8_t *pixels, int32_t n, int32_t mul, const int32_t *off,
                       int32_t off_len, int16_t shift, int8_t *out)
{
    int32_t i, j = 0;
    if (shift >= 2 && shift <= 31) {
        /* the quantizer's usual case: the branch-free rounding (GCC makes the clamp one SSAT) */
        const int32_t sm1 = shift - 1;
        for (i = 0; i < n; i++) {
            const int32_t r = nn_round_shift2(pixels[i] * mul - off[j], sm1);
            out[i] = (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
            /* off repeats every off_len values (per channel, or per pixel for a mean image) */
            if (++j == off_len)
                j = 0;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        out[i] = (int8_t)nn_requant(pixels[i] * mul - off[j], shift, -128, 127);
        if (++j == off_len)
            j = 0;
    }
}
