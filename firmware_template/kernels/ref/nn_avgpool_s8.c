/* Average pooling, int8, portable variant (docs/int8_contract.md: avg_pool): q7's loop (the
 * window iterator of common/nn_pool_common.h, TFLM's rounding division) where each padding cell
 * that Caffe counts adds in_zp (real 0; exclude_pad counts none), then the activation clamp. */
#include "nn_kernels.h"
#include "nn_internal.h"
#include "nn_pool_common.h"

void nn_avgpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, row_step = p->in_w * C, lo = p->act_min, hi = p->act_max,
                  in_zp = p->in_zp;
    nn_pool_win w;
    int32_t oy, ox, c;
    for (oy = 0; oy < p->out_h; oy++) {
        NN_POOL_ROW(w, p, oy, in);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            NN_POOL_COL(w, p, ox);
            const int32_t pad_sum = w.pad * in_zp;
            for (c = 0; c < C; c++) {
                const int32_t q = avg_div(nn_pool_sum1(pad_sum, w.corner + c, row_step, C, w.rows, w.cols),
                                          w.n, w.m);
                out[c] = (int8_t)(q < lo ? lo : (q > hi ? hi : q));
            }
        }
    }
}
