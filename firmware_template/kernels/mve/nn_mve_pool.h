/* Internal to mve/nn_avgpool_q7.c and nn_avgpool_s8.c: one output pixel's average, 4 channels
 * per int32 vector. Static function in a header included once by each of those files. */
#ifndef NN_MVE_POOL_H
#define NN_MVE_POOL_H

#include "nn_mve.h"
#include "nn_pool_common.h"

/* out[c] = clamp(avg_div(pad_sum + sum of the rows x cols cells from corner, n), lo, hi) for
 * every channel c < C (row_step bytes between window rows, C between cells; m: avg_div's). */
static void avg_window(const int8_t *corner, int32_t row_step, int32_t C, int32_t rows,
                       int32_t cols, int32_t n, uint32_t m, int32_t pad_sum, int32_t lo, int32_t hi,
                       int8_t *out)
{
    int32_t c, y, x;
    for (c = 0; c < C; c += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(C - c));
        const int8_t *row = corner + c;
        int32x4_t sum = vdupq_n_s32(pad_sum), q;
        for (y = 0; y < rows; y++, row += row_step) {
            const int8_t *src = row;
            for (x = 0; x < cols; x++, src += C)
                sum = vaddq_s32(sum, vldrbq_z_s32(src, pr));
        }
        if (m != 0) {
            /* |sum| + n/2 < 2^23 / (m*n - 2^23): the product fits 31 bits (avg_div) */
            const int32x4_t sign = vshrq_n_s32(sum, 31);
            q = vaddq_n_s32(vabsq_s32(sum), n >> 1);
            q = vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(vmulq_n_s32(q, (int32_t)m)), 23));
            q = vsubq_s32(veorq_s32(q, sign), sign);   /* negate where sum < 0 */
        } else {
            int32_t lane[4], i;
            vst1q_s32(lane, sum);
            for (i = 0; i < 4; i++)
                lane[i] = avg_div(lane[i], n, 0);
            q = vld1q_s32(lane);
        }
        q = vminq_s32(vmaxq_s32(q, vdupq_n_s32(lo)), vdupq_n_s32(hi));
        vstrbq_p_s32(out + c, q, pr);
    }
}

#endif
