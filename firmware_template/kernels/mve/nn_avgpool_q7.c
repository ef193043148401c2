/* Average pooling, q7, Helium (MVE) variant, Caffe ceil-mode windows (docs/q7_contract.md,
 * ir.pool_window): per output pixel and per 4 channels (int32 lanes, the last run
 * tail-predicated), the window sum by widening byte loads, then the contract's division as in
 * nn_pool_common.h's avg_div: sign(sum) * (((|sum| + n/2) * m) >> 23) for n <= 255 (exact:
 * x * m < 2^31 there); larger windows take avg_div itself per channel. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_pool_common.h"
#include "nn_mve_pool.h"

void nn_avgpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; oy++) {
        int32_t y0, y1;
        const int32_t nh = window(oy, p->k_h, p->stride_h, p->pad_h, p->in_h, &y0, &y1);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            int32_t x0, x1;
            const int32_t n = nh * window(ox, p->k_w, p->stride_w, p->pad_w, W, &x0, &x1);
            avg_window(in + (y0 * W + x0) * C, W * C, C, y1 - y0, x1 - x0, n, 0, -128, 127, out);
        }
    }
}
