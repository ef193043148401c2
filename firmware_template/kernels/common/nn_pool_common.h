/* Internal, pool variants only: the Caffe ceil-mode window, the average pools' window iterator
 * and rounding division, shared by every ISA's nn_maxpool_q7.c and nn_avgpool_{q7,s8}.c (each
 * includes this once, so the compiler treats them as if written in that file). */
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

/* The average pools' windows, one output pixel after another (HWC order), for every ISA and
 * scheme: the clipped window and its divisor, Caffe's (padding up to size + pad counts) or with
 * exclude_pad the input cells only (ONNX count_include_pad = 0, TFLite's AVERAGE_POOL_2D).
 *     for (oy = 0; oy < p->out_h; oy++) {
 *         NN_POOL_ROW(w, p, oy, in);
 *         for (ox = 0; ox < p->out_w; ox++, out += C) {
 *             NN_POOL_COL(w, p, ox);   ... w.corner, w.rows, w.cols, w.n, w.m, w.pad ...
 * p points to an nn_pool_params or nn_pool_s8_params (the same field names). What a window
 * needs besides its column's geometry is kept in w per row (stores to out may alias *p, so the
 * compiler would reload it). */
typedef struct {
    const int8_t *corner;   /* the window's first input cell, channel 0 */
    int32_t rows, cols;     /* its input cells: rows x cols */
    int32_t n, pad;         /* divisor; the padding cells it counts (n - rows * cols) */
    uint32_t m;             /* avg_div's multiplier for n (0: divide) */
    const int8_t *row;      /* per row: the first input row's cell 0 */
    int32_t nh, c, excl;    /* per row: its divisor extent; channels; exclude_pad */
} nn_pool_win;

/* one axis: output index o's divisor extent and clipped input span [*a, *b) */
static inline int32_t nn_pool_axis(int32_t o, int32_t k, int32_t stride, int32_t pad, int32_t size,
                                   int32_t excl, int32_t *a, int32_t *b)
{
    const int32_t n = window(o, k, stride, pad, size, a, b);
    return excl ? *b - *a : n;
}

#define NN_POOL_ROW(it, p, oy, input)                                                           \
    do {                                                                                        \
        int32_t y0_, y1_;                                                                       \
        (it).excl = (p)->exclude_pad;                                                           \
        (it).c = (p)->c;                                                                        \
        (it).nh = nn_pool_axis((oy), (p)->k_h, (p)->stride_h, (p)->pad_h, (p)->in_h, (it).excl,   \
                               &y0_, &y1_);                                                     \
        (it).rows = y1_ - y0_;                                                                  \
        (it).row = (input) + y0_ * (p)->in_w * (it).c;                                          \
    } while (0)

#define NN_POOL_COL(it, p, ox)                                                                  \
    do {                                                                                        \
        int32_t x0_, x1_;                                                                       \
        (it).n = (it).nh * nn_pool_axis((ox), (p)->k_w, (p)->stride_w, (p)->pad_w, (p)->in_w,     \
                                        (it).excl, &x0_, &x1_);                                 \
        (it).cols = x1_ - x0_;                                                                  \
        (it).pad = (it).n - (it).rows * (it).cols;                                              \
        (it).m = (it).n <= 255 ? ((1u << 23) + (uint32_t)(it).n - 1u) / (uint32_t)(it).n : 0u;  \
        (it).corner = (it).row + x0_ * (it).c;                                                  \
    } while (0)

/* sum + the window sum of one channel: rows x cols cells from cell, row_step bytes between rows */
static inline int32_t nn_pool_sum1(int32_t sum, const int8_t *cell, int32_t row_step, int32_t C,
                                   int32_t rows, int32_t cols)
{
    int32_t y, x;
    for (y = 0; y < rows; y++, cell += row_step) {
        const int8_t *src = cell;
        for (x = 0; x < cols; x++, src += C)
            sum += *src;
    }
    return sum;
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
