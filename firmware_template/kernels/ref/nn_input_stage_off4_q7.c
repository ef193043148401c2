/* The model's input stage with a 4-bit per-pixel offset table (docs/q7_contract.md, "input
 * stage"): nn_input_stage_off8_q7's integers, off8 = base[row][channel] + nibble, stored per image
 * row as its C base bytes then its W*C nibbles (element j in byte j/2, low nibble first; an odd
 * count ends with an unused nibble). For a smooth mean image (cifar10_m4's) that is 1,632 B
 * instead of 3,072. The arithmetic is off8's term for term:
 *     q[i] = sat8((p[i] * mul + ((add - base * off_mul) - nibble * off_mul)) >> shift)
 * where (add - base * off_mul) - nibble * off_mul == add - off8 * off_mul, so every term stays in
 * the int32 range the generator checked for off8 (kernels/q7_input_stage.py). Rows are
 * independent, so a streamed band is the same call on pointers advanced by whole rows. */
#include "nn_kernels.h"
#include "nn_internal.h"

static inline int8_t stage(uint8_t px, int32_t mul, int32_t term, int16_t shift)
{
    return (int8_t)nn_sat8((px * mul + term) >> shift);
}

/* Any channel count: the channel index runs beside the element index. The generator calls
 * nn_input_stage_off4c3_q7 (its own file, a faster loop) for 3 channels, so a model links one. */
void nn_input_stage_off4_q7(const uint8_t *px, int32_t rows, int32_t w, int32_t c, int32_t mul,
                            const uint8_t *tab, int32_t off_mul, int32_t add, int16_t shift,
                            int8_t *out)
{
    const int32_t n = w * c, stride = c + ((n + 1) >> 1);
    for (; rows > 0; rows--, tab += stride, px += n, out += n) {
        const uint8_t *nib = tab + c;
        int32_t j, ch = 0;
        for (j = 0; j < n; j++) {
            const int32_t e = (nib[j >> 1] >> ((j & 1) << 2)) & 15;
            out[j] = stage(px[j], mul, (add - tab[ch] * off_mul) - e * off_mul, shift);
            if (++ch == c)
                ch = 0;
        }
    }
}
