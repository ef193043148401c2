/* int8 MUL by a constant (docs/int8_contract.md: channel_affine), TFLite Micro's MUL arithmetic:
 * clamp(mbqm((x - in_zp) * (k - k_zp), out_mult, out_shift) + out_zp), the constant k holding one
 * value (broadcast) or one per channel. The generator refuses a left shift that could overflow
 * the product (|product| <= 255 * 255, far below the epilogue's 2^30 bound). */
#include "nn_kernels.h"
#include "nn_int8.h"

void nn_mul_const_s8(const nn_mul_const_s8_params *p, const int8_t *in, const int8_t *k, int8_t *out)
{
    const int32_t C = p->channels, n = p->pixels * C;
    int32_t c, i;
    /* channel by channel, so the constant's term is computed once; element i is read before it
     * is written, so out may alias in */
    for (c = 0; c < C; c++) {
        const int32_t kc = k[p->k_len == 1 ? 0 : c] - p->k_zp;
        for (i = c; i < n; i += C)
            out[i] = nn_requant_s8((in[i] - p->in_zp) * kc, p->out_mult, p->out_shift, p->out_zp,
                                   p->act_min, p->act_max);
    }
}
