/* Element-wise add, q7, Helium (MVE) variant (docs/q7_contract.md: add): 4 values per int32
 * vector (widening byte loads, the last run tail-predicated): a << a_shift + b << b_shift (< 2^31
 * for shifts <= 23), VQRSHL by -out_shift (round half up; a left shift saturates, which the
 * 8-bit clamp after it cannot tell from the contract's), clamp, narrowing byte store. Element i
 * is read before it is written, so out may alias a or b. */
#include "nn_kernels.h"
#include "nn_mve.h"

void nn_add_q7(const int8_t *a, int16_t a_shift, const int8_t *b, int16_t b_shift,
               int16_t out_shift, int8_t *out, int32_t n)
{
    const int32_t sh = out_shift > 40 ? -40 : (out_shift < -31 ? 31 : -out_shift);
    const int32x4_t lo = vdupq_n_s32(-128), hi = vdupq_n_s32(127);
    int32_t i;
    for (i = 0; i < n; i += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
        int32x4_t x = vshlq_r_s32(vldrbq_z_s32(a + i, pr), a_shift);
        x = vaddq_s32(x, vshlq_r_s32(vldrbq_z_s32(b + i, pr), b_shift));
        x = vminq_s32(vmaxq_s32(vqrshlq_n_s32(x, sh), lo), hi);
        vstrbq_p_s32(out + i, x, pr);
    }
}
