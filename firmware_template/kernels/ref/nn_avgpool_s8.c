/* Average pooling, int8, portable variant (docs/int8_contract.md: avg_pool): q7's loop (Caffe
 * ceil-mode windows, TFLM's rounding division by Caffe's count) where each padding cell that
 * Caffe counts adds in_zp (real 0), then the activation clamp. */
#include "nn_kernels.h"
#include "nn_internal.h"
#include "nn_pool_common.h"

void nn_avgpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w, lo = p->act_min, hi = p->act_max;
    int32_t oy, ox, y, x, c;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        const int32_t nh = window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            const int32_t n = nh * window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            const uint32_t m = n <= 255 ? ((1u << 23) + (uint32_t)n - 1u) / (uint32_t)n : 0u;
            const int32_t pad_sum = (n - (y1 - y0) * (x1 - x0)) * p->in_zp;
            const int8_t *corner = in + (y0 * W + x0) * C;
            const int32_t row_step = W * C;
            for (c = 0; c < C; c++) {
                int32_t sum = pad_sum, q;
                const int8_t *row = corner + c;
                for (y = y0; y < y1; y++, row += row_step) {
                    const int8_t *src = row;
                    for (x = x0; x < x1; x++, src += C)
                        sum += *src;
                }
                q = avg_div(sum, n, m);
                out[c] = (int8_t)(q < lo ? lo : (q > hi ? hi : q));
            }
        }
    }
}
