/* Max and average pooling, q7, Caffe ceil-mode windows (docs/q7_contract.md, ir.pool_window).
 * Both loop over output pixels and, inside, over the clipped window with the channel run
 * innermost (HWC keeps a pixel's channels contiguous). The DSP path handles 4 channels per word:
 * SSUB8+SEL for max, SXTAB16 lane sums for average. */
#include "nn_kernels.h"
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

void nn_maxpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w;
    int32_t oy, ox, y, x, c;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            /* the first cell initialises the maximum: padding is never a candidate; then each
             * further cell of the window updates all channels (long contiguous inner loop) */
            memcpy(out, in + (y0 * W + x0) * C, (uint32_t)C);
            for (y = y0; y < y1; y++) {
                for (x = y == y0 ? x0 + 1 : x0; x < x1; x++) {
                    const int8_t *src = in + (y * W + x) * C;
                    c = 0;
#ifdef NN_USE_DSP
                    for (; c + 4 <= C; c += 4)
                        nn_write32(out + c, nn_max_s8x4(nn_read32(src + c), nn_read32(out + c)));
#endif
                    for (; c < C; c++)
                        if (src[c] > out[c])
                            out[c] = src[c];
                }
            }
        }
    }
}

/* sign(sum) * ((|sum| + n/2) / n), the contract's round-half-away-from-zero division.
 * For n <= 255 the division is a multiply by m = ceil(2^23 / n): exact because
 * |sum| <= 128*n, so x = |sum| + n/2 < 2^23 / (m*n - 2^23) and x*m < 2^31. */
static int8_t avg_div(int32_t sum, int32_t n, uint32_t m)
{
    const uint32_t x = (uint32_t)(sum < 0 ? -sum : sum) + (uint32_t)(n >> 1);
    const int32_t q = m ? (int32_t)((x * m) >> 23) : (int32_t)(x / (uint32_t)n);
    return (int8_t)(sum < 0 ? -q : q);
}

void nn_avgpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w;
    int32_t oy, ox, y, x, c;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        const int32_t nh = window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            const int32_t n = nh * window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            const uint32_t m = n <= 255 ? ((1u << 23) + (uint32_t)n - 1u) / (uint32_t)n : 0u;
            const int8_t *corner = in + (y0 * W + x0) * C;
            const int32_t row_step = W * C;
            c = 0;
#ifdef NN_USE_DSP
            /* halfword lanes hold sums of up to 255 cells of |q| <= 128 without overflow */
            if ((y1 - y0) * (x1 - x0) <= 255) {
                for (; c + 4 <= C; c += 4) {
                    uint32_t s02 = 0, s13 = 0;
                    const int8_t *row = corner + c;
                    for (y = y0; y < y1; y++, row += row_step) {
                        const int8_t *src = row;
                        for (x = x0; x < x1; x++, src += C) {
                            const uint32_t v = nn_read32(src);
                            s02 = nn_sxtab16(s02, v);
                            s13 = nn_sxtab16_ror8(s13, v);
                        }
                    }
                    out[c] = avg_div(nn_sext16_lane(s02, 0), n, m);
                    out[c + 1] = avg_div(nn_sext16_lane(s13, 0), n, m);
                    out[c + 2] = avg_div(nn_sext16_lane(s02, 1), n, m);
                    out[c + 3] = avg_div(nn_sext16_lane(s13, 1), n, m);
                }
            }
#endif
            for (; c < C; c++) {
                int32_t sum = 0;
                const int8_t *row = corner + c;
                for (y = y0; y < y1; y++, row += row_step) {
                    const int8_t *src = row;
                    for (x = x0; x < x1; x++, src += C)
                        sum += *src;
                }
                out[c] = avg_div(sum, n, m);
            }
        }
    }
}
