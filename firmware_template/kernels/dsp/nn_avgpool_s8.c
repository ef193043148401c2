/* Average pooling, int8, DSP variant (docs/int8_contract.md: avg_pool): dsp/nn_avgpool_q7.c's
 * loop (4 channels per word as SXTAB16 halfword-lane sums, windows of up to 255 cells) where each
 * padding cell that Caffe counts adds in_zp (real 0), then the activation clamp. */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_pool_common.h"

static inline int8_t avg_clamp(int32_t sum, int32_t n, uint32_t m, int32_t lo, int32_t hi)
{
    const int32_t q = avg_div(sum, n, m);
    return (int8_t)(q < lo ? lo : (q > hi ? hi : q));
}

void nn_avgpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w, lo = p->act_min, hi = p->act_max;
    int32_t oy, ox, y, x, c;
    if (p->pad_h == 0 && p->pad_w == 0 && lo == -128 && hi == 127) {
        /* no padding cell is counted and nothing to clamp: exactly q7's kernel */
        const nn_pool_params q = {p->in_h, p->in_w, p->c, p->out_h, p->out_w, p->k_h, p->k_w,
                                  p->stride_h, p->stride_w, 0, 0};
        nn_avgpool_q7(&q, in, out);
        return;
    }
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        const int32_t nh = window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            const int32_t n = nh * window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            const uint32_t m = n <= 255 ? ((1u << 23) + (uint32_t)n - 1u) / (uint32_t)n : 0u;
            const int32_t cells = (y1 - y0) * (x1 - x0), pad_sum = (n - cells) * p->in_zp;
            const int8_t *corner = in + (y0 * W + x0) * C;
            const int32_t row_step = W * C;
            c = 0;
            /* halfword lanes hold sums of up to 255 cells of |q| <= 128 without overflow */
            if (cells <= 255) {
                for (; c + 4 <= C; c += 4) {
                    uint32_t s02, s13;
                    nn_pool_sum4(corner + c, row_step, C, y1 - y0, x1 - x0, &s02, &s13);
                    out[c] = avg_clamp(nn_sext16_lane(s02, 0) + pad_sum, n, m, lo, hi);
                    out[c + 1] = avg_clamp(nn_sext16_lane(s13, 0) + pad_sum, n, m, lo, hi);
                    out[c + 2] = avg_clamp(nn_sext16_lane(s02, 1) + pad_sum, n, m, lo, hi);
                    out[c + 3] = avg_clamp(nn_sext16_lane(s13, 1) + pad_sum, n, m, lo, hi);
                }
            }
            for (; c < C; c++) {
                int32_t sum = pad_sum;
                const int8_t *row = corner + c;
                for (y = y0; y < y1; y++, row += row_step) {
                    const int8_t *src = row;
                    for (x = x0; x < x1; x++, src += C)
                        sum += *src;
                }
                out[c] = avg_clamp(sum, n, m, lo, hi);
            }
        }
    }
}
