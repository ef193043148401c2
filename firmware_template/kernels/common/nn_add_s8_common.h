/* Internal, nn_add_s8 variants only (ref/, mve/): the contract's element loop, which mve/ keeps
 * for multipliers above 1. */
#ifndef NN_ADD_S8_COMMON_H
#define NN_ADD_S8_COMMON_H

#include "nn_int8.h"

/* TFLite Micro's int8 ADD: both inputs moved to a common scale with 2^left_shift headroom,
 * summed, requantised to the output. Element i is read before it is written, so out may alias
 * a or b. */
static inline void nn_add_s8_scalar(const nn_add_s8_params *p, const int8_t *a, const int8_t *b,
                                    int8_t *out)
{
    const int32_t az = p->a_zp, bz = p->b_zp, ls = p->left_shift, lo = p->act_min, hi = p->act_max;
    int32_t i;
    for (i = 0; i < p->n; i++) {
        const int32_t x = nn_mbqm((a[i] - az) * (1 << ls), p->a_mult, p->a_shift);
        const int32_t y = nn_mbqm((b[i] - bz) * (1 << ls), p->b_mult, p->b_shift);
        out[i] = nn_requant_s8(x + y, p->out_mult, p->out_shift, p->out_zp, lo, hi);
    }
}

#endif
