/* Average pooling, int8, Helium (MVE) variant (docs/int8_contract.md: avg_pool): q7's vector
 * loop (mve/nn_mve_pool.h) where each padding cell that Caffe counts adds in_zp (real 0), then
 * the activation clamp. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_pool_common.h"
#include "nn_mve_pool.h"

void nn_avgpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        const int32_t nh = window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            const int32_t n = nh * window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            const int32_t pad_sum = (n - (y1 - y0) * (x1 - x0)) * p->in_zp;
            avg_window(in + (y0 * W + x0) * C, W * C, C, y1 - y0, x1 - x0, n, pad_sum,
                       p->act_min, p->act_max, out);
        }
    }
}
