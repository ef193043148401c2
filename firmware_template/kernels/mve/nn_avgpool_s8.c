/* Average pooling, int8, Helium (MVE) variant (docs/int8_contract.md: avg_pool): q7's vector
 * loop (mve/nn_mve_pool.h) where each padding cell that Caffe counts adds in_zp (real 0;
 * exclude_pad counts none), then the activation clamp. */
#include "nn_kernels.h"
#include "nn_mve.h"
#include "nn_pool_common.h"
#include "nn_mve_pool.h"

void nn_avgpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out)
{
    nn_pool_win w;
    int32_t oy, ox;
    for (oy = 0; oy < p->out_h; oy++) {
        NN_POOL_ROW(w, p, oy);
        for (ox = 0; ox < p->out_w; ox++, out += p->c) {
            NN_POOL_COL(w, p, ox, in);
            avg_window(w.corner, p->in_w * p->c, p->c, w.rows, w.cols, w.n, w.m, w.pad * p->in_zp,
                       p->act_min, p->act_max, out);
        }
    }
}
