/* The model's input stage: uint8 pixels -> q7 (docs/q7_contract.md, "input stage"). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_input_stage_q7(const uint8_t *pixels, int32_t n, int32_t mul, const int32_t *off,
                       int32_t off_len, int16_t shift, int8_t *out)
{
    /* the generator guarantees 1 <= shift <= 31; (t >> 1) + (t & 1) with t = acc >> (shift-1)
     * is round_shift without the overflow of acc + 2^(shift-1) */
    const int32_t sm1 = shift - 1;
    int32_t i, j = 0;
    for (i = 0; i < n; i++) {
        const int32_t t = (pixels[i] * mul - off[j]) >> sm1;
        const int32_t r = (t >> 1) + (t & 1);
        out[i] = (int8_t)nn_sat8(r);
        /* off repeats every off_len values (per channel, or per pixel for a mean image) */
        if (++j == off_len)
            j = 0;
    }
}
