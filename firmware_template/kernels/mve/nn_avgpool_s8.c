/* Average pooling, int8, Helium (MVE) variant (docs/int8_contract.md: avg_pool): q7's vector
 * loop (mve/nn_mve_pool.h) where each padding cell that Caffe counts adds in_zp (real 0;
 * exclude_pad counts none), then the activation clamp. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_pool_common.h"
#include "nn_mve_pool.h"

void nn_avgpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, W = p->in_w;
    const int32_t lo = p->act_min, hi = p->act_max, in_zp = p->in_zp;
    nn_pool_win w;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; oy++) {
        NN_POOL_ROW(w, p, oy, in);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            NN_POOL_COL(w, p, ox);
            avg_window(w.corner, W * C, C, w.rows, w.cols, w.n, w.m, w.pad * in_zp,
                       lo, hi, out);
        }
    }
}
