/* int8 ADD of a constant (docs/int8_contract.md: channel_affine), TFLite Micro's ADD arithmetic
 * (as nn_add_s8) with the second input a constant k of one value (broadcast) or one per channel. */
#include "nn_kernels.h"
#include "nn_int8.h"

void nn_add_const_s8(const nn_add_const_s8_params *p, const int8_t *in, const int8_t *k, int8_t *out)
{
    const int32_t C = p->channels, step = p->k_len == 1 ? 0 : 1, ls = p->left_shift;
    int32_t i, c;
    /* element i is read before it is written, so out may alias in */
    for (i = 0; i < p->pixels; i++, in += C, out += C) {
        const int8_t *kc = k;
        for (c = 0; c < C; c++, kc += step) {
            const int32_t x = nn_mbqm((in[c] - p->in_zp) * (1 << ls), p->in_mult, p->in_shift);
            const int32_t y = nn_mbqm((*kc - p->k_zp) * (1 << ls), p->k_mult, p->k_shift);
            out[c] = nn_requant_s8(x + y, p->out_mult, p->out_shift, p->out_zp, p->act_min, p->act_max);
        }
    }
}
