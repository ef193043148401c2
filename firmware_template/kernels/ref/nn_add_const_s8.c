/* int8 ADD of a constant (docs/int8_contract.md: channel_affine), TFLite Micro's ADD arithmetic
 * (as nn_add_s8) with the second input a constant k of one value (broadcast) or one per channel. */
#include "nn_kernels.h"
#include "nn_int8.h"

void nn_add_const_s8(const nn_add_const_s8_params *p, const int8_t *in, const int8_t *k, int8_t *out)
{
    const int32_t C = p->channels, n = p->pixels * C, ls = p->left_shift;
    int32_t c, i;
    /* channel by channel, so the constant's scaled term is computed once; element i is read
     * before it is written, so out may alias in */
    for (c = 0; c < C; c++) {
        const int32_t y = nn_mbqm((k[p->k_len == 1 ? 0 : c] - p->k_zp) * (1 << ls), p->k_mult, p->k_shift);
        for (i = c; i < n; i += C) {
            const int32_t x = nn_mbqm((in[i] - p->in_zp) * (1 << ls), p->in_mult, p->in_shift);
            out[i] = nn_requant_s8(x + y, p->out_mult, p->out_shift, p->out_zp, p->act_min, p->act_max);
        }
    }
}
