/* Channel concatenation, q7: one input's slice (docs/q7_contract.md: concat). */
#include "nn_kernels.h"
#include "nn_internal.h"

void nn_concat_q7(const int8_t *in, int32_t pixels, int16_t in_c, int16_t shift,
                  int8_t *out, int16_t out_c, int16_t c_offset)
{
    int32_t px, c;
    out += c_offset;
    for (px = 0; px < pixels; px++, in += in_c, out += out_c) {
        if (shift == 0) {
            memcpy(out, in, (uint32_t)in_c);
            continue;
        }
        for (c = 0; c < in_c; c++)
            out[c] = (int8_t)nn_requant(in[c], shift, -128, 127);
    }
}
