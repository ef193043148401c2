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

#endif
