/* Channel concatenation, int8: one requantised input's slice (docs/int8_contract.md: concat,
 * TFLite Micro's int8 -> int8 QUANTIZE). Inputs that keep their scale and zero point are copied
 * by nn_concat_q7 with shift 0. */
#include "nn_kernels.h"
#include "nn_int8.h"

void nn_concat_s8(const int8_t *in, int32_t pixels, int16_t in_c, int16_t in_zp,
                  int32_t mult, int16_t shift, int16_t out_zp, int8_t *out, int16_t out_c,
                  int16_t c_offset)
{
    int32_t px, c;
    out += c_offset;
    for (px = 0; px < pixels; px++, in += in_c, out += out_c)
        for (c = 0; c < in_c; c++)
            out[c] = nn_requant_s8(in[c] - in_zp, mult, shift, out_zp, -128, 127);
}
