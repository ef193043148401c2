/* Average pooling, q7, DSP variant, Caffe ceil-mode windows (docs/q7_contract.md,
 * ir.pool_window): output pixels outside, the clipped window inside, the channel run innermost
 * (HWC keeps a pixel's channels contiguous); 4 channels per word as SXTAB16 halfword-lane sums
 * (windows of up to 255 cells; larger ones and the C % 4 rest take the per-channel loop). */
#include "nn_kernels.h"
#include "nn_dsp.h"
#include "nn_pool_common.h"

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
            /* halfword lanes hold sums of up to 255 cells of |q| <= 128 without overflow */
            if ((y1 - y0) * (x1 - x0) <= 255) {
                for (; c + 4 <= C; c += 4) {
                    uint32_t s02, s13;
                    nn_pool_sum4(corner + c, row_step, C, y1 - y0, x1 - x0, &s02, &s13);
                    out[c] = avg_div(nn_sext16_lane(s02, 0), n, m);
                    out[c + 1] = avg_div(nn_sext16_lane(s13, 0), n, m);
                    out[c + 2] = avg_div(nn_sext16_lane(s02, 1), n, m);
                    out[c + 3] = avg_div(nn_sext16_lane(s13, 1), n, m);
                }
            }
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
