/* Element-wise add, int8, Helium (MVE) variant (docs/int8_contract.md: add): TFLite Micro's int8
 * ADD, 4 values per int32 vector (the last run tail-predicated) when every multiplier is below 1
 * (shifts <= 0: nn_mve.h's mve_mbqm_right); otherwise ref/'s scalar loop (nn_add_s8_common.h).
 * Element i is read before it is written, so out may alias a or b. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_add_s8_common.h"

void nn_add_s8(const nn_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    const int32x4_t am = vdupq_n_s32(p->a_mult), as = vdupq_n_s32(p->a_shift);
    const int32x4_t bm = vdupq_n_s32(p->b_mult), bs = vdupq_n_s32(p->b_shift);
    const int32x4_t om = vdupq_n_s32(p->out_mult), os = vdupq_n_s32(p->out_shift);
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    int32_t i;
    if (p->a_shift > 0 || p->b_shift > 0 || p->out_shift > 0) {
        nn_add_s8_scalar(p, a, b, out);
        return;
    }
    for (i = 0; i < p->n; i += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(p->n - i));
        /* (q - zp) << left_shift: |q - zp| <= 255, left_shift <= 20: no overflow */
        const int32x4_t x = vshlq_r_s32(vsubq_n_s32(vldrbq_z_s32(a + i, pr), p->a_zp), p->left_shift);
        const int32x4_t y = vshlq_r_s32(vsubq_n_s32(vldrbq_z_s32(b + i, pr), p->b_zp), p->left_shift);
        int32x4_t r = vaddq_s32(mve_mbqm_right(x, am, as), mve_mbqm_right(y, bm, bs));
        r = vqaddq_n_s32(mve_mbqm_right(r, om, os), p->out_zp);
        vstrbq_p_s32(out + i, vminq_s32(vmaxq_s32(r, lo), hi), pr);
    }
}
