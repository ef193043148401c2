/* Average pooling, q7, portable variant, Caffe ceil-mode windows (docs/q7_contract.md,
 * ir.pool_window) or exclude_pad's: output pixels outside (common/nn_pool_common.h's window
 * iterator), the channel run innermost (HWC keeps a pixel's channels contiguous); per channel,
 * the window sum and the contract's rounding division. */
#include "nn_kernels.h"
#include "nn_internal.h"
#include "nn_pool_common.h"

void nn_avgpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, row_step = p->in_w * C;
    nn_pool_win w;
    int32_t oy, ox, c;
    for (oy = 0; oy < p->out_h; oy++) {
        NN_POOL_ROW(w, p, oy, in);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            NN_POOL_COL(w, p, ox);
            for (c = 0; c < C; c++)
                out[c] = avg_div(nn_pool_sum1(0, w.corner + c, row_step, C, w.rows, w.cols), w.n, w.m);
        }
    }
}
