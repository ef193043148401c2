/* Internal, pool variants only: the Caffe ceil-mode window and the average's rounding division,
 * shared by ref/ and dsp/ nn_maxpool_q7.c and nn_avgpool_q7.c (each includes this once, so the
 * compiler treats them as if written in that file). */
#ifndef NN_POOL_COMMON_H
#define NN_POOL_COMMON_H

#include "nn_internal.h"

/* Caffe window for output index o: clipped [*a, *b) and the divisor extent (clipped to size+pad). */
static int32_t window(int32_t o, int32_t k, int32_t stride, int32_t pad, int32_t size,
                      int32_t *a, int32_t *b)
{
    const int32_t start = o * stride - pad;
    const int32_t end = start + k < size + pad ? start + k : size + pad;
    *a = start > 0 ? start : 0;
    *b = end < size ? end : size;
    return end - start;
}

/* sign(sum) * ((|sum| + n/2) / n), the contract's round-half-away-from-zero division.
 * For n <= 255 the division is a multiply by m = ceil(2^23 / n): exact because
 * |sum| <= 128*n, so x = |sum| + n/2 < 2^23 / (m*n - 2^23) and x*m < 2^31. */
static inline int8_t avg_div(int32_t sum, int32_t n, uint32_t m)
{
    const uint32_t x = (uint32_t)(sum < 0 ? -sum : sum) + (uint32_t)(n >> 1);
    const int32_t q = m ? (int32_t)((x * m) >> 23) : (int32_t)(x / (uint32_t)n);
    return (int8_t)(sum < 0 ? -q : q);
}

#ifdef NN_USE_DSP
/* The DSP average pools' window sums of 4 channels (the word at corner + c of each cell; rs the
 * input row step, cs the channel run): halfword lanes of *s02 = channels 0 and 2, *s13 = 1 and
 * 3 (SXTAB16), at most 255 cells. Whole 3x3 windows unrolled. */
static inline void nn_pool_sum4(const int8_t *corner, int32_t rs, int32_t cs, int32_t ny,
                                int32_t nx, uint32_t *s02, uint32_t *s13)
{
    uint32_t a = 0, b = 0;
    int32_t y, x;
    if (ny == 3 && nx == 3) {
        for (y = 0; y < 3; y++, corner += rs) {
            const uint32_t v0 = nn_read32(corner), v1 = nn_read32(corner + cs);
            const uint32_t v2 = nn_read32(corner + 2 * cs);
            a = nn_sxtab16(nn_sxtab16(nn_sxtab16(a, v0), v1), v2);
            b = nn_sxtab16_ror8(nn_sxtab16_ror8(nn_sxtab16_ror8(b, v0), v1), v2);
        }
    } else {
        for (y = 0; y < ny; y++, corner += rs) {
            const int8_t *src = corner;
            for (x = 0; x < nx; x++, src += cs) {
                const uint32_t v = nn_read32(src);
                a = nn_sxtab16(a, v);
                b = nn_sxtab16_ror8(b, v);
            }
        }
    }
    *s02 = a;
    *s13 = b;
}
#endif

#endif
