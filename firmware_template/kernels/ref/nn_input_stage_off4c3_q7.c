/* nn_input_stage_off4_q7 for 3 channels and an even width (RGB images: the generator's pick then),
 * same table and integers: two pixels per step share three nibble bytes (b0 = pixel 0's channels
 * 0 and 1, b1 = its channel 2 and pixel 1's channel 0, b2 = pixel 1's channels 1 and 2), the
 * three channel terms stay in registers for a whole row. */
#include "nn_kernels.h"
#include "nn_internal.h"

static inline int8_t stage3(uint8_t px, int32_t mul, int32_t term, int16_t shift)
{
    return (int8_t)nn_sat8((px * mul + term) >> shift);
}

void nn_input_stage_off4c3_q7(const uint8_t *px, int32_t rows, int32_t w, int32_t mul,
                              const uint8_t *tab, int32_t off_mul, int32_t add, int16_t shift,
                              int8_t *out)
{
    const int32_t stride = 3 + 3 * (w >> 1);
    for (; rows > 0; rows--, tab += stride) {
        const int32_t t0 = add - tab[0] * off_mul, t1 = add - tab[1] * off_mul;
        const int32_t t2 = add - tab[2] * off_mul;
        const uint8_t *nib = tab + 3;
        const int8_t *const end = out + 3 * w;
        for (; out != end; out += 6, px += 6, nib += 3) {
            const int32_t b0 = nib[0], b1 = nib[1], b2 = nib[2];
            out[0] = stage3(px[0], mul, t0 - (b0 & 15) * off_mul, shift);
            out[1] = stage3(px[1], mul, t1 - (b0 >> 4) * off_mul, shift);
            out[2] = stage3(px[2], mul, t2 - (b1 & 15) * off_mul, shift);
            out[3] = stage3(px[3], mul, t0 - (b1 >> 4) * off_mul, shift);
            out[4] = stage3(px[4], mul, t1 - (b2 & 15) * off_mul, shift);
            out[5] = stage3(px[5], mul, t2 - (b2 >> 4) * off_mul, shift);
        }
    }
}
