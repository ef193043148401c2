/* Average pooling, int8, DSP variant (docs/int8_contract.md: avg_pool): dsp/nn_avgpool_q7.c's
 * loop (the window iterator of common/nn_pool_common.h; 4 channels per word as SXTAB16
 * halfword-lane sums, windows of up to 255 cells) where each padding cell that Caffe counts adds
 * in_zp (real 0; exclude_pad counts none), then the activation clamp. */
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
    const int32_t C = p->c, row_step = p->in_w * C, lo = p->act_min, hi = p->act_max,
                  in_zp = p->in_zp;
    nn_pool_win w;
    int32_t oy, ox, c;
    if (p->pad_h == 0 && p->pad_w == 0 && lo == -128 && hi == 127) {
        /* no padding cell is counted and nothing to clamp: exactly q7's kernel (without padding
         * both divisors are the input cells) */
        const nn_pool_params q = {p->in_h, p->in_w, p->c, p->out_h, p->out_w, p->k_h, p->k_w,
                                  p->stride_h, p->stride_w, 0, 0, 0};
        nn_avgpool_q7(&q, in, out);
        return;
    }
    for (oy = 0; oy < p->out_h; oy++) {
        NN_POOL_ROW(w, p, oy, in);
        for (ox = 0; ox < p->out_w; ox++, out += C) {
            NN_POOL_COL(w, p, ox);
            const int32_t pad_sum = w.pad * in_zp;
            c = 0;
            /* halfword lanes hold sums of up to 255 cells of |q| <= 128 without overflow */
            if (w.rows * w.cols <= 255) {
                for (; c + 4 <= C; c += 4) {
                    uint32_t s02, s13;
                    nn_pool_sum4(w.corner + c, row_step, C, w.rows, w.cols, &s02, &s13);
                    out[c] = avg_clamp(nn_sext16_lane(s02, 0) + pad_sum, w.n, w.m, lo, hi);
                    out[c + 1] = avg_clamp(nn_sext16_lane(s13, 0) + pad_sum, w.n, w.m, lo, hi);
                    out[c + 2] = avg_clamp(nn_sext16_lane(s02, 1) + pad_sum, w.n, w.m, lo, hi);
                    out[c + 3] = avg_clamp(nn_sext16_lane(s13, 1) + pad_sum, w.n, w.m, lo, hi);
                }
            }
            for (; c < C; c++)
                out[c] = avg_clamp(nn_pool_sum1(pad_sum, w.corner + c, row_step, C, w.rows, w.cols),
                                   w.n, w.m, lo, hi);
        }
    }
}
