/* Average pooling, q7, Helium (MVE) variant, Caffe ceil-mode windows (docs/q7_contract.md,
 * ir.pool_window) or exclude_pad's: per output pixel (common/nn_pool_common.h's window
 * iterator) and per 4 channels (int32 lanes, the last run tail-predicated), the window sum by
 * widening byte loads, then the contract's division as in nn_pool_common.h's avg_div:
 * sign(sum) * (((|sum| + n/2) * m) >> 23) for n <= 255 (exact: x * m < 2^31 there); larger
 * windows take avg_div itself per channel. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_pool_common.h"
#include "nn_mve_pool.h"

void nn_avgpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w;
    nn_pool_win w;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; oy++) {
        NN_POOL_ROW(w, p, oy, in);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            NN_POOL_COL(w, p, ox);
            avg_window(w.corner, W * C, C, w.rows, w.cols, w.n, w.m, 0,
                       -128, 127, out);
        }
    }
}
